"""Figures of the seeds' convolution lessons (seed 003 Part 1, seed 004): a signal, pooling, colour, padding.

Each function draws what the seed's notebook cell draws, with the seed's panel titles, pixel
axes, each panel's size, and the seed and section credited in the title.
"""

from collections.abc import Sequence

import numpy as np


def panel_row(panels: Sequence[tuple], *, title: str, size: float = 2.6):
    """A row of images, each on its own pixel axes with its size in the title.

    Args:
      panels: ``(image, title)``, ``(image, title, cmap)`` or ``(image, title, cmap, (vmin, vmax))``;
        ``image`` ``(H, W)`` or ``(H, W, 3)`` in [0, 1] (RGB), drawn with ``cmap`` (default ``"gray"``)
        scaled to its own range unless ``(vmin, vmax)`` is given.
      title: the figure's title.
      size: inches per panel.

    Returns:
      A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("panel_row: panels must hold at least one (image, title); got none")
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.9), squeeze=False)
    for ax, (img, name, *opt) in zip(axes[0], panels):
        img = np.asarray(img)
        vmin, vmax = opt[1] if len(opt) > 1 else (None, None)
        cmap = (opt or ["gray"])[0] if img.ndim == 2 else None
        ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(f"{name}\n{img.shape[0]}x{img.shape[1]}", fontsize=9)
        ax.set_xlabel("column (pixels)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("row (pixels)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def signal_convolution(signal, kernel, convolved, as_written=None, *, title: str):
    """Seed 003's 1-D demo: input, kernel and convolved signal, side by side (its three titled panels).

    Args:
      signal: ``(d,)`` input.
      kernel: ``(s,)`` kernel.
      convolved: ``(d - s + 1,)`` the convolution; output ``i`` is drawn at the centre of its window.
      as_written: optional, the seed's Q3 code's output, drawn dashed over the correct one.
      title: the figure's title.
    """
    import matplotlib.pyplot as plt

    signal, kernel, convolved = (np.asarray(a, np.float64) for a in (signal, kernel, convolved))
    fig, ax = plt.subplots(1, 3, figsize=(10, 3.0))
    ax[0].plot(signal, ".-")
    ax[0].set_title("Input", fontsize=9)
    ax[1].plot(kernel, "o-", color="tab:orange")
    ax[1].set_title("Kernel", fontsize=9)
    ax[1].set_xticks(range(len(kernel)))
    centres = np.arange(len(convolved)) + (len(kernel) - 1) / 2
    ax[2].plot(centres, convolved, ".-", color="tab:green", label="conv1d (corrected loops = cnnlab.ops)")
    if as_written is not None:
        ax[2].plot(centres, as_written, "--", color="tab:red", label="seed's Q3 code as written (output[i] =)")
        ax[2].legend(fontsize=7)
    ax[2].set_title("Convolved", fontsize=9)
    for a, xl in zip(ax, ("input index", "kernel index j", "input index of the window's centre")):
        a.set_xlabel(xl, fontsize=8)
        a.set_ylabel("value", fontsize=8)
        a.axhline(0, color="0.8", lw=0.8, zorder=0)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def conv_then_pool(digit, box: tuple[int, int, int, int], kernel, convolved, pooled, *, title: str):
    """Seed 004's lesson: a digit with a patch boxed, the patch as kernel, the convolution, then 2x2 max pooling.

    Args:
      digit: ``(H, W)`` image.
      box: ``(r0, r1, c0, c1)``, the patch ``digit[r0:r1, c0:c1]`` (seed 004, In [4]).
      kernel: the patch (In [5]).
      convolved: ``(H - KH + 1, W - KW + 1)`` VALID convolution of the digit with it (In [7], [13]).
      pooled: ``convolved`` max-pooled 2x2 (In [16]).
      title: the figure's title.
    """
    import matplotlib.patches as mpatches

    r0, r1, c0, c1 = box
    fig = panel_row(
        [(digit, "digit, patch boxed"), (kernel, "the patch as kernel"),
         (convolved, "conv2d (VALID)", "viridis"), (pooled, "then max pool 2x2", "viridis")],
        title=title,
    )  # fmt: skip
    fig.axes[0].add_patch(mpatches.Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, ec="red", lw=2))
    return fig


def kernel_on_digits(digits, responses, *, title: str):
    """Seed 004, In [8]: one kernel's response on several digits, each digit above its response.

    Args:
      digits: ``(N, H, W)`` images.
      responses: ``(N, OH, OW)`` their convolutions with the kernel.
      title: the figure's title.
    """
    import matplotlib.pyplot as plt

    n = len(digits)
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.6), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(digits[i], cmap="gray", interpolation="nearest")
        axes[1, i].imshow(responses[i], cmap="viridis", interpolation="nearest")
        axes[1, i].set_title(f"peak {np.max(responses[i]):.1f}", fontsize=8)
        for ax in axes[:, i]:
            ax.tick_params(labelsize=6)
    axes[0, 0].set_ylabel("digit\nrow (pixels)", fontsize=8)
    axes[1, 0].set_ylabel("response\nrow (pixels)", fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("column (pixels)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
