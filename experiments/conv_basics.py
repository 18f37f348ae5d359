"""``conv-basics``: the first lesson of a CNN course, made visible with `cnnlab.ops.conv2d`.

Hand-made 3x3 kernels (Sobel and Prewitt edge detectors for horizontal and vertical
gradients, box and Gaussian blur, sharpen) are applied to real test digits; the same
convolution with and without padding (``"VALID"``: 28 -> 26, ``"SAME"``: 28 -> 28) and
with stride 2 (28 -> 13 or 14); a 3-channel input (the digit and two shifted copies,
drawn as RGB) with a ``(3, 3, 3, C_out)`` kernel that sums over the channels; and a
patch cut out of a digit used as a kernel, whose response peaks where the patch was cut
(template matching). Every output is checked against `cnnlab.teaching.conv2d_loops`, the loop-based
definition from the classic exercise (explicit loops over output positions, computing
the cross-correlation that deep-learning libraries call convolution), and the largest
difference is recorded: it is float rounding, nothing more.

Then the seeds' own lessons, as they wrote them (`experiments/_conv_seeds.py`): seed 003 Part 1's
1-D signal demo, its hand answers (Q1, Q6, Q9) beside its answer code as printed and corrected
(`cnnlab.seedcode`: four bugs), padding 0 against 10, max and average pooling at size 2 with
strides 1 and 2, a colour photograph's channels, its edge and blur kernels over all three and
their RGB composite (Q7/Q8); and seed 004's patch of x_train[0] as a kernel, then max pooling.

Nothing is trained: ``epochs`` and ``batch_size`` are in the defaults only because every
study carries them; they are 0 here and ignored. ``--quick`` is the same configuration
(it runs in seconds). Study keys: ``n_digits`` (test images shown, one per class) and
``template_size`` (side of the patch used as a template).
"""

import dataclasses
from typing import Literal

import numpy as np

from . import _conv_seeds
from ._config import StudyConfig, setting
from ._harness import Run, Study, UsageError, plural
from ._runner import main


def run(r: Run) -> None:
    import jax.numpy as jnp

    from cnnlab import ops, teaching
    from cnnlab.viz import convolution, features

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
        ] = float(np.abs(y - teaching.conv2d_loops(xs, k, **kw)).max())
        return y

    # 1. The kernel bank on the digits.
    names, bank = teaching.kernel_bank()
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
        convolution.padding_and_stride(
            x[0, :, :, 0], outs, kernel_size=3, title="Padding and stride: one 3x3 kernel (Sobel x), four output sizes"
        ),
        "padding.png",
        "Sobel x on one digit, drawn at the input's pixel scale so the outputs line up with the input "
        "(dashed orange: the 28x28 input's frame; black: the output's extent; grey: no output there). "
        "VALID keeps only positions where the whole 3x3 window fits, "
        "losing a 1-pixel border (26x26); SAME pads with zeros to keep 28x28; stride 2 computes every "
        "other position (13x13 or 14x14, each output pixel standing for 2x2 input pixels).",
    )

    # 3. Several input channels: the kernel sums over them.
    x3 = teaching.shifted_channels(x)
    mc_names, k3 = teaching.multichannel_kernel()
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
    ti, tj = teaching.inkiest_patch(x[target, :, :, 0], tsize)
    tj += target * x.shape[2]
    patch = scene[0, ti : ti + tsize, tj : tj + tsize, 0]
    zero_mean = (patch - patch.mean())[:, :, None, None]
    # resp[i, j]: the patch placed with its corner at (i, j).
    resp = conv("zero-mean template", scene, zero_mean, padding="VALID")[0, :, :, 0]
    raw = conv("raw template", scene, patch[:, :, None, None], padding="VALID")[0, :, :, 0]
    peak = np.unravel_index(np.argmax(resp), resp.shape)
    raw_peak = np.unravel_index(np.argmax(raw), raw.shape)
    err = float(np.hypot(peak[0] - ti, peak[1] - tj))
    raw_err = float(np.hypot(raw_peak[0] - ti, raw_peak[1] - tj))
    r.metric(template_peak_error_px=err, raw_template_peak_error_px=raw_err)
    px, raw_px = plural(round(err), "pixel"), plural(round(raw_err), "pixel")
    r.figure(
        convolution.template_matching(scene[0, :, :, 0], patch, (ti, tj), resp, peak, raw, raw_peak),
        "template.png",
        f"Template matching: a {tsize}x{tsize} patch cut from one digit (green box) is the kernel. With the "
        f"patch's mean subtracted (middle) the response peaks (red cross) {px} from where the "
        f"patch was cut. The raw patch (bottom) also rewards plain brightness: its map is a blurred copy of "
        f"the ink, with the peak {raw_px} away here, and any thick stroke scores almost as high.",
    )

    # 5. Our op against the loop definition, every case above.
    worst = max(diffs.values())
    r.metric(loop_max_abs_diff=worst, loop_cases=len(diffs))
    r.compare(
        "max abs difference, conv2d vs the loop definition", worst, 0.0,
        source="the loop-based definition (cross-correlation, explicit loops over output positions)",
        note=f"exact up to float rounding: {plural(len(diffs), 'case')}, our op in float32, the loops in float64",
    )  # fmt: skip
    rows = "\n".join(f"| {k} | {v:.2e} |" for k, v in diffs.items())
    r.section(
        "Every convolution in this study was computed twice: by `cnnlab.ops.conv2d` and by "
        "`cnnlab.teaching.conv2d_loops`, the definition as the classic exercise writes it (two loops over output "
        "positions, a window times the kernel summed). Kernel shape (KH x KW x C_in x C_out), padding "
        "and stride of each case, and the largest absolute difference:\n\n"
        f"| case | max abs difference |\n| --- | --- |\n{rows}"
    )
    # 6. The seeds' own convolution lessons as they wrote them (seed 003 Part 1, seed 004).
    _conv_seeds.run_all(r, r.data("train"))
    r.section(
        f"Template matching: the peak of the zero-mean template's response is {px} from "
        "where the patch was cut. Output sizes: VALID shrinks by KH − 1 = 2 pixels, SAME keeps the "
        "size, stride 2 halves it (rounding up with SAME, down with VALID)."
    )


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
    reference="seed 003 (HMC homework 9) Part 1: convolution by hand in 1-D and 2-D, padding, channels, "
    "pooling with a stride, and its answers; seed 004 ('MNIST with Conv2d'): convolution by loops, a patch as "
    "the kernel, max pooling",
)

if __name__ == "__main__":
    main(STUDY)
