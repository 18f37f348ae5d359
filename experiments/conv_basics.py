"""``conv-basics``: the first lesson of a CNN course, made visible with `cnnlab.ops.conv2d`.

Hand-made 3x3 kernels (Sobel and Prewitt edge detectors for horizontal and vertical
gradients, box and Gaussian blur, sharpen) are applied to real test digits; the same
convolution with and without padding (``"VALID"``: 28 -> 26, ``"SAME"``: 28 -> 28) and
with stride 2 (28 -> 13 or 14); a 3-channel input (the digit and two shifted copies,
drawn as RGB) with a ``(3, 3, 3, C_out)`` kernel that sums over the channels; and a
patch cut out of a digit used as a kernel, whose response peaks where the patch was cut
(template matching). Every output is checked against `conv2d_loops`, the loop-based
definition from the classic exercise (explicit loops over output positions, computing
the cross-correlation that deep-learning libraries call convolution), and the largest
difference is recorded: it is float rounding, nothing more.

Nothing is trained: ``epochs`` and ``batch_size`` are in the defaults only because every
study carries them; they are 0 here and ignored. ``--quick`` is the same configuration
(it runs in seconds). Study keys: ``n_digits`` (test images shown, one per class) and
``template_size`` (side of the patch used as a template).
"""

import dataclasses
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, UsageError, main

#: The hand-made 3x3 kernels, by name. ``x``/``y`` name the gradient's direction: "Sobel x"
#: responds to intensity changing along x, i.e. to vertical edges.
KERNELS = {
    "Sobel x\n(vertical edges)": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y\n(horizontal edges)": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "Prewitt x\n(vertical edges)": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "Prewitt y\n(horizontal edges)": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "box blur": [[1 / 9] * 3] * 3,
    "Gaussian blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
}

#: Shifts ``(dy, dx)`` of the digit in the three channels of the multi-channel input.
CHANNEL_SHIFTS = ((0, 0), (0, 2), (2, 0))


def kernel_bank() -> tuple[list[str], np.ndarray]:
    """The names of `KERNELS` and the kernels as one HWIO float32 array ``(3, 3, 1, len(KERNELS))``."""
    names = list(KERNELS)
    bank = np.stack([np.asarray(KERNELS[n], np.float32) for n in names], axis=-1)[:, :, None, :]
    return names, bank


def multichannel_kernel() -> tuple[list[str], np.ndarray]:
    """A ``(3, 3, 3, 3)`` HWIO kernel for the 3-channel input, and its output channels' names.

    Output 0 averages all nine taps of all three channels (a blur of the sum); output 1 is
    channel 0 minus channel 1 (only where the shifted copy differs is it non-zero); output 2
    is Sobel x on channel 0 plus Sobel y on channel 2 (edges in two directions, from two
    channels, added).
    """
    k = np.zeros((3, 3, 3, 3), np.float32)
    k[:, :, :, 0] = 1.0 / 27.0
    k[1, 1, 0, 1], k[1, 1, 1, 1] = 1.0, -1.0
    k[:, :, 0, 2] = np.asarray(KERNELS["Sobel x\n(vertical edges)"], np.float32)
    k[:, :, 2, 2] = np.asarray(KERNELS["Sobel y\n(horizontal edges)"], np.float32)
    return ["mean of all\nchannels", "channel 0 −\nchannel 1", "Sobel x on ch. 0\n+ Sobel y on ch. 2"], k


def conv2d_loops(x, kernel, *, stride: int = 1, padding: str = "VALID") -> np.ndarray:
    """Convolution as the classic exercise defines it: explicit loops over output positions.

    ``y[n, i, j, o] = sum_{a, b, c} xp[n, i*s + a, j*s + b, c] * kernel[a, b, c, o]`` where
    ``xp`` is ``x`` zero-padded: the cross-correlation that deep-learning libraries call
    convolution (the kernel is not flipped). Slow and obviously right; computed in float64.

    Args:
      x: ``(N, H, W, C_in)``.
      kernel: ``(KH, KW, C_in, C_out)``.
      stride: the same stride along both axes, >= 1.
      padding: ``"VALID"`` (no padding) or ``"SAME"`` (output ``ceil(H / s)``, the odd padding
        pixel at the bottom/right, as Keras and TensorFlow do).

    Returns:
      float64 ``(N, OH, OW, C_out)``.

    Raises:
      ValueError: wrong ranks, channel counts that differ, a stride below 1, an unknown
        padding, or a kernel larger than the (padded) input.

    Example:
      >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
      >>> conv2d_loops(x, np.ones((2, 2, 1, 1)))[0, :, :, 0]
      array([[10., 14., 18.],
             [26., 30., 34.],
             [42., 46., 50.]])
    """
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(
            f"conv2d_loops: x must be (N, H, W, C_in) and kernel (KH, KW, C_in, C_out); "
            f"got x {x.shape}, kernel {kernel.shape}"
        )
    if x.shape[3] != kernel.shape[2]:
        raise ValueError(f"conv2d_loops: kernel has C_in={kernel.shape[2]} but x has {x.shape[3]} channels")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"conv2d_loops: stride must be an int >= 1; got {stride!r}")
    n, h, w, _ = x.shape
    kh, kw, _, c_out = kernel.shape
    if padding == "VALID":
        pads = [(0, 0), (0, 0)]
    elif padding == "SAME":
        pads = []
        for size, k in ((h, kh), (w, kw)):
            out = -(-size // stride)
            total = max((out - 1) * stride + k - size, 0)
            pads.append((total // 2, total - total // 2))
    else:
        raise ValueError(f'conv2d_loops: padding must be "VALID" or "SAME"; got {padding!r}')
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    oh = (xp.shape[1] - kh) // stride + 1
    ow = (xp.shape[2] - kw) // stride + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_loops: kernel {kh}x{kw} is larger than the padded input {xp.shape[1:3]}")
    y = np.zeros((n, oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]  # (N, KH, KW, C_in)
            for o in range(c_out):
                y[:, i, j, o] = (window * kernel[:, :, :, o]).sum(axis=(1, 2, 3))
    return y


def shifted_channels(x: np.ndarray, shifts=CHANNEL_SHIFTS) -> np.ndarray:
    """``(N, H, W, 1)`` images -> ``(N, H, W, len(shifts))``: channel ``c`` is the image moved by ``shifts[c]``."""
    from cnnlab import data

    return np.concatenate(
        [np.asarray(data.translate(x, np.tile(np.asarray(s, np.int32), (len(x), 1)))) for s in shifts], axis=-1
    )


def run(r: Run) -> None:
    import jax.numpy as jnp

    from cnnlab import ops
    from cnnlab.viz import features

    if r.cfg.epochs or r.cfg.batch_size:
        r.log("nothing is trained here: --epochs and --batch-size are ignored")
    n_digits, tsize = r.cfg.n_digits, r.cfg.template_size
    if not 1 <= n_digits <= 10:
        raise UsageError(f"n_digits must be between 1 and 10 (one test image per class); got {n_digits}")
    if not 3 <= tsize <= 20:
        raise UsageError(f"template_size must be between 3 and 20 pixels; got {tsize}")
    test = r.data("test")
    rng = np.random.default_rng(r.seed)
    # The offline MNIST subset is ordered by class: draw the classes, then one image of each.
    classes = np.sort(rng.choice(test.num_classes, n_digits, replace=False))
    pick = np.array([rng.choice(np.flatnonzero(test.labels == c)) for c in classes])
    x = test.images[pick].astype(np.float32) / 255.0  # (N, 28, 28, 1)
    labels = [test.class_names[c] for c in classes]
    diffs = {}

    def conv(what, xs, k, **kw):
        """Our op; its largest difference from the loop definition is recorded under ``what``."""
        y = np.asarray(ops.conv2d(jnp.asarray(xs), jnp.asarray(k), **kw))
        shape = "x".join(map(str, k.shape))
        diffs[
            f"{what}: x {'x'.join(map(str, xs.shape))}, kernel {shape}, {kw['padding']}, stride {kw.get('stride', 1)}"
        ] = float(np.abs(y - conv2d_loops(xs, k, **kw)).max())
        return y

    # 1. The kernel bank on the digits.
    names, bank = kernel_bank()
    y_same = conv("kernel bank", x, bank, padding="SAME")
    r.figure(
        features.kernel_grid(bank, titles=names, title="Hand-made 3x3 kernels (weights written in)"),
        "kernels.png",
        "The hand-made kernels: Sobel and Prewitt gradients along x and y (they light up at vertical "
        "and horizontal edges), box and Gaussian blur (weights summing to 1), sharpen (the centre "
        "minus its neighbours, plus itself). Red is positive, blue negative.",
    )
    r.figure(
        features.feature_maps(
            x, y_same, map_titles=[n.split("\n")[0] for n in names], row_labels=labels, cmap="gray",
            title="Each kernel convolved with each digit (SAME padding, stride 1)",
        ),
        "outputs.png",
        "Each row: a test image, then its convolution with each kernel (each map on its own grey "
        "scale; dark negative, light positive). The x-gradients mark left and right sides of strokes "
        "with opposite signs, the y-gradients top and bottom; blurs soften, sharpen exaggerates edges.",
    )  # fmt: skip

    # 2. Padding and stride: the output sizes of one 3x3 kernel on a 28x28 digit.
    sobel = bank[:, :, :, :1]
    cases = [("VALID", 1), ("SAME", 1), ("VALID", 2), ("SAME", 2)]
    outs = {(p, s): conv("Sobel x", x[:1], sobel, padding=p, stride=s) for p, s in cases}
    sizes = {f"{p.lower()}_stride{s}_size": outs[p, s].shape[1] for p, s in cases}
    r.metric(**sizes)
    h = x.shape[1]
    for p, s in cases:
        formula = (h - 3) // s + 1 if p == "VALID" else -(-h // s)
        rule = f"floor(({h} - 3) / {s}) + 1" if p == "VALID" else f"ceil({h} / {s})"
        r.compare(
            f"output side, 3x3 kernel, {p}, stride {s}", outs[p, s].shape[1], formula,
            source=f"output-size formula {rule}", note="28x28 input",
        )  # fmt: skip
    r.figure(
        _padding_figure(x[0, :, :, 0], outs, kernel_size=3),
        "padding.png",
        "Sobel x on one digit, drawn at the input's pixel scale so the outputs line up with the input "
        "(dashed orange: the 28x28 input's frame; black: the output's extent; grey: no output there). "
        "VALID keeps only positions where the whole 3x3 window fits, "
        "losing a 1-pixel border (26x26); SAME pads with zeros to keep 28x28; stride 2 computes every "
        "other position (13x13 or 14x14, each output pixel standing for 2x2 input pixels).",
    )

    # 3. Several input channels: the kernel sums over them.
    x3 = shifted_channels(x)
    mc_names, k3 = multichannel_kernel()
    y3 = conv("3 channels", x3, k3, padding="VALID")
    per_channel = sum(
        np.asarray(ops.conv2d(jnp.asarray(x3[..., c : c + 1]), jnp.asarray(k3[:, :, c : c + 1]), padding="VALID"))
        for c in range(3)
    )
    r.metric(multichannel_sum_max_abs_diff=float(np.abs(y3 - per_channel).max()))
    r.figure(
        features.kernel_grid(
            k3,
            titles=mc_names,
            title="A (3, 3, 3, 3) kernel:\nrows: input channels, columns: outputs",
        ),
        "multichannel_kernel.png",
        "The multi-channel kernel: output channel o adds up the 3x3 convolutions of input channel c "
        "(row c) with slice k[:, :, c, o].",
    )
    r.figure(
        features.feature_maps(
            x3, y3, map_titles=mc_names, row_labels=labels,
            title="3-channel input (the digit, shifted right, shifted down; shown as RGB) and the 3 outputs",
        ),
        "multichannel.png",
        "Multi-channel convolution: the input's channels are the digit (red), the digit moved 2 pixels "
        "right (green) and 2 pixels down (blue); each output is 26x26 (VALID) and mixes all three. "
        "The difference channel is non-zero only where the shifted copy disagrees with the original.",
    )  # fmt: skip

    # 4. A patch of a digit as the kernel: template matching.
    scene = np.concatenate(list(x[:, :, :, 0]), axis=1)[None, :, :, None]  # (1, 28, 28*N, 1), the digits side by side
    target = (n_digits - 1) // 2
    ti, tj = _inkiest_patch(x[target, :, :, 0], tsize)
    tj += target * x.shape[2]
    patch = scene[0, ti : ti + tsize, tj : tj + tsize, 0]
    zero_mean = (patch - patch.mean())[:, :, None, None]
    resp = conv("zero-mean template", scene, zero_mean, padding="VALID")[
        0, :, :, 0
    ]  # resp[i, j]: patch placed with its corner at (i, j)
    raw = conv("raw template", scene, patch[:, :, None, None], padding="VALID")[0, :, :, 0]
    peak = np.unravel_index(np.argmax(resp), resp.shape)
    raw_peak = np.unravel_index(np.argmax(raw), raw.shape)
    err = float(np.hypot(peak[0] - ti, peak[1] - tj))
    raw_err = float(np.hypot(raw_peak[0] - ti, raw_peak[1] - tj))
    r.metric(template_peak_error_px=err, raw_template_peak_error_px=raw_err)
    r.figure(
        _template_figure(scene[0, :, :, 0], patch, (ti, tj), resp, peak, raw, raw_peak),
        "template.png",
        f"Template matching: a {tsize}x{tsize} patch cut from one digit (green box) is the kernel. With the "
        f"patch's mean subtracted (middle) the response peaks (red cross) {err:.0f} pixels from where the "
        f"patch was cut. The raw patch (bottom) also rewards plain brightness: its map is a blurred copy of "
        f"the ink, with the peak {raw_err:.0f} pixels away here, and any thick stroke scores almost as high.",
    )

    # 5. Our op against the loop definition, every case above.
    worst = max(diffs.values())
    r.metric(loop_max_abs_diff=worst, loop_cases=len(diffs))
    r.compare(
        "max abs difference, conv2d vs the loop definition", worst, 0.0,
        source="the loop-based definition (cross-correlation, explicit loops over output positions)",
        note=f"exact up to float rounding: {len(diffs)} cases, our op in float32, the loops in float64",
    )  # fmt: skip
    rows = "\n".join(f"| {k} | {v:.2e} |" for k, v in diffs.items())
    r.section(
        "Every convolution in this study was computed twice: by `cnnlab.ops.conv2d` and by "
        "`conv2d_loops`, the definition as the classic exercise writes it (two loops over output "
        "positions, a window times the kernel summed). Kernel shape (KH x KW x C_in x C_out), padding "
        "and stride of each case, and the largest absolute difference:\n\n"
        f"| case | max abs difference |\n| --- | --- |\n{rows}"
    )
    r.section(
        f"Template matching: the peak of the zero-mean template's response is {err:.0f} pixels from "
        "where the patch was cut. Output sizes: VALID shrinks by KH − 1 = 2 pixels, SAME keeps the "
        "size, stride 2 halves it (rounding up with SAME, down with VALID)."
    )


def _inkiest_patch(img: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size x size`` window of ``img`` with the most variation (strokes and gaps)."""
    best, corner = -1.0, (0, 0)
    for i in range(img.shape[0] - size + 1):
        for j in range(img.shape[1] - size + 1):
            v = float(img[i : i + size, j : j + size].std())
            if v > best:
                best, corner = v, (i, j)
    return corner


def _frame(ax, h: int, w: int) -> None:
    import matplotlib.patches as mpatches

    ax.add_patch(mpatches.Rectangle((-0.5, -0.5), w, h, fill=False, ls="--", lw=1, ec="tab:orange"))
    ax.set_xlim(-2, w + 1)
    ax.set_ylim(h + 1, -2)


def _padding_figure(img: np.ndarray, outs: dict, *, kernel_size: int):
    """Input and its VALID/SAME, stride 1/2 outputs, each placed over the input pixels it came from."""
    import matplotlib.patches as mpatches
    import matplotlib.pyplot as plt

    h, w = img.shape
    fig, axes = plt.subplots(1, len(outs) + 1, figsize=(3.0 * (len(outs) + 1), 3.4), sharex=True, sharey=True)
    axes[0].imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title(f"input {h}x{w}", fontsize=9)
    _frame(axes[0], h, w)
    for ax, ((p, s), y) in zip(axes[1:], outs.items()):
        y = y[0, :, :, 0]
        oh, ow = y.shape
        # Output pixel i's window starts at input row i*s - pad_top; its centre is (k - 1)/2 further.
        top = 0 if p == "VALID" else max((oh - 1) * s + kernel_size - h, 0) // 2
        c0 = (kernel_size - 1) / 2 - top
        extent = (c0 - s / 2, c0 + (ow - 1) * s + s / 2, c0 + (oh - 1) * s + s / 2, c0 - s / 2)
        m = np.abs(y).max() or 1.0
        ax.set_facecolor("0.8")  # grey where the output has no pixel
        ax.imshow(y, cmap="RdBu_r", vmin=-m, vmax=m, extent=extent, interpolation="nearest")
        ax.add_patch(
            mpatches.Rectangle((extent[0], extent[3]), extent[1] - extent[0], extent[2] - extent[3], fill=False, lw=1)
        )
        _frame(ax, h, w)
        ax.set_title(f"{p}, stride {s}: {oh}x{ow}", fontsize=9)
    for ax in axes:
        ax.set_xlabel("column (input pixels)", fontsize=8)
    axes[0].set_ylabel("row (input pixels)", fontsize=8)
    fig.suptitle("Padding and stride: one 3x3 kernel (Sobel x), four output sizes")
    fig.tight_layout()
    return fig


def _template_figure(scene, patch, corner, resp, peak, raw, raw_peak):
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


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """conv-basics's settings: nothing is trained, so epochs and batch_size are 0 and unused."""

    dataset: Literal["mnist", "fashion_mnist"] = setting("mnist", "the images convolved")
    epochs: int = setting(0, "unused: nothing is trained", minimum=0)
    batch_size: int = setting(0, "unused: nothing is trained", minimum=0)
    n_digits: int = setting(4, "test images shown under each kernel", minimum=1)
    template_size: int = setting(9, "side of the patch cut out as a template kernel", minimum=1)


STUDY = Study(
    name="conv-basics",
    summary="hand-made kernels (edges, blur, sharpen, a patch as template) on digits; padding, stride, channels",
    run=run,
    config=Config,
    quick=dict(),  # the full configuration already runs in seconds
    reference="the first lesson of the classic CNN course: convolution by hand, with kernels, padding, stride "
    "and channels, and the loop-based definition of the exercise",
)

if __name__ == "__main__":
    main(STUDY)
