"""Figures of the convolution lesson: where padding and stride put the outputs, and template matching."""

from collections.abc import Mapping

import numpy as np


def _frame(ax, h: int, w: int) -> None:
    """A dashed frame around an ``h x w`` input drawn at pixel scale, with a 1.5-pixel margin."""
    import matplotlib.patches as mpatches

    ax.add_patch(mpatches.Rectangle((-0.5, -0.5), w, h, fill=False, ls="--", lw=1, ec="tab:orange"))
    ax.set_xlim(-2, w + 1)
    ax.set_ylim(h + 1, -2)


def output_extent(p: str, s: int, out_shape: tuple[int, int], in_h: int, kernel_size: int) -> tuple[float, ...]:
    """``imshow`` extent ``(left, right, bottom, top)`` placing each output pixel over its window's centre.

    Output pixel ``i``'s window starts at input row ``i*s - pad_top`` (``pad_top`` 0 for VALID,
    TensorFlow's SAME rule otherwise); its centre is ``(k - 1)/2`` further; each output pixel
    covers ``s x s`` input pixels. Square inputs and kernels.

    Example:
      >>> output_extent("VALID", 1, (26, 26), 28, 3)
      (0.5, 26.5, 26.5, 0.5)
    """
    oh, ow = out_shape
    top = 0 if p == "VALID" else max((oh - 1) * s + kernel_size - in_h, 0) // 2
    c0 = (kernel_size - 1) / 2 - top
    return (c0 - s / 2, c0 + (ow - 1) * s + s / 2, c0 + (oh - 1) * s + s / 2, c0 - s / 2)


def padding_and_stride(img, outs: Mapping[tuple[str, int], np.ndarray], *, kernel_size: int, title: str | None = None):
    """An input and its convolutions with several paddings and strides, each over the input pixels it came from.

    Args:
      img: ``(H, W)`` input image in [0, 1], square.
      outs: ``{(padding, stride): (1, OH, OW, 1) output}`` of one ``kernel_size`` square kernel.
      kernel_size: the kernel's side.
      title: the figure's title (default: names the kernel size and the number of outputs).

    Returns:
      A matplotlib ``Figure``: the input, then one panel per output on the input's pixel scale
      (dashed orange: the input's frame; black: the output's extent; grey: no output there).
    """
    import matplotlib.patches as mpatches
    import matplotlib.pyplot as plt

    img = np.asarray(img)
    h, w = img.shape
    fig, axes = plt.subplots(1, len(outs) + 1, figsize=(3.0 * (len(outs) + 1), 3.4), sharex=True, sharey=True)
    axes[0].imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title(f"input {h}x{w}", fontsize=9)
    _frame(axes[0], h, w)
    for ax, ((p, s), y) in zip(axes[1:], outs.items()):
        y = np.asarray(y)[0, :, :, 0]
        extent = output_extent(p, s, y.shape, h, kernel_size)
        m = np.abs(y).max() or 1.0
        ax.set_facecolor("0.8")  # grey where the output has no pixel
        ax.imshow(y, cmap="RdBu_r", vmin=-m, vmax=m, extent=extent, interpolation="nearest")
        ax.add_patch(
            mpatches.Rectangle((extent[0], extent[3]), extent[1] - extent[0], extent[2] - extent[3], fill=False, lw=1)
        )
        _frame(ax, h, w)
        ax.set_title(f"{p}, stride {s}: {y.shape[0]}x{y.shape[1]}", fontsize=9)
    for ax in axes:
        ax.set_xlabel("column (input pixels)", fontsize=8)
    axes[0].set_ylabel("row (input pixels)", fontsize=8)
    fig.suptitle(title or f"Padding and stride: one {kernel_size}x{kernel_size} kernel, {len(outs)} outputs")
    fig.tight_layout()
    return fig


def template_matching(scene, patch, corner, resp, peak, raw, raw_peak):
    """A patch used as a convolution kernel: the patch, the scene, and the responses of the zero-mean and raw patch.

    Args:
      scene: ``(H, W)`` image the patch was cut from.
      patch: ``(K, K)`` template.
      corner: ``(row, column)`` of the patch's top-left corner in ``scene``.
      resp: ``(H - K + 1, W - K + 1)`` VALID response of the zero-mean patch.
      peak: ``(row, column)`` of ``resp``'s maximum.
      raw: the raw patch's response, shaped like ``resp``.
      raw_peak: ``(row, column)`` of ``raw``'s maximum.

    Returns:
      A matplotlib ``Figure``: the template, then scene (green box: where the patch was cut;
      red dashed box: the zero-mean peak), zero-mean and raw responses with their peaks (red crosses).
    """
    import matplotlib.patches as mpatches
    import matplotlib.pyplot as plt

    size = patch.shape[0]
    fig = plt.figure(figsize=(11, 7.2))
    grid = fig.add_gridspec(3, 2, width_ratios=(1, 5))
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(patch, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"template ({size}x{size})", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    panels = [
        (grid[0, 1], scene, "gray", "the digits, with the patch's origin (green) and the zero-mean peak (red)", peak),
        (grid[1, 1], resp, "viridis", "zero-mean template's response (VALID; pixel = patch's top-left corner)", peak),
        (grid[2, 1], raw, "viridis", "response of the raw patch (not zero-mean)", raw_peak),
    ]  # fmt: skip
    for where, img, cmap, title, (pi, pj) in panels:
        ax = fig.add_subplot(where)
        im = ax.imshow(img, cmap=cmap, interpolation="nearest")
        if img is scene:
            ax.add_patch(
                mpatches.Rectangle((corner[1] - 0.5, corner[0] - 0.5), size, size, fill=False, ec="lime", lw=2)
            )
            ax.add_patch(mpatches.Rectangle((pj - 0.5, pi - 0.5), size, size, fill=False, ec="red", lw=1, ls="--"))
        else:
            fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
            ax.plot(
                [corner[1]], [corner[0]], "s", mfc="none", mec="lime", ms=10, mew=2, label="where the patch was cut"
            )
            ax.legend(loc="lower right", fontsize=7)
        ax.plot([pj], [pi], "x", color="red", ms=10, mew=2.5)
        ax.set_title(title + f"; peak at row {pi}, column {pj}", fontsize=9)
        ax.set_xlabel("column", fontsize=8)
        ax.set_ylabel("row", fontsize=8)
    fig.suptitle("Template matching: a patch of an image used as a convolution kernel")
    fig.tight_layout()
    return fig
