"""conv-basics's seed steps: seed 003 Part 1 and Q9 (HMC homework 9) and seed 004 ("MNIST with Conv2d") as written.

Each step draws the seed's own figure with `cnnlab.ops`, checks it against the seed's
(corrected) loops in `cnnlab.seedcode` or `cnnlab.teaching.conv2d_loops`, and prints the
seed's hand answers beside ours. Called by `conv_basics.run`; the maths is in the library.
"""

import numpy as np

S003 = "seed 003 (HMC homework 9), Part 1"
S003_P2 = "seed 003 (HMC homework 9), Part 2"
S004 = "seed 004 (Keras notebook 'MNIST with Conv2d')"


def _fmt(a) -> str:
    """``[7, 6, 7]``; a matrix row by row, ``[0, 2; -1, 3]``."""
    a = np.squeeze(np.asarray(a, np.float64))
    rows = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else [a]
    return "[" + "; ".join(", ".join(f"{v:g}" for v in row) for row in rows) + "]"


def _op(fn, *arrays, **kw) -> np.ndarray:
    import jax.numpy as jnp

    return np.asarray(fn(*(jnp.asarray(np.asarray(a, np.float32)) for a in arrays), **kw), np.float64)


def signal_demo(r) -> None:
    """Seed 003 after Q3: a sum of sines convolved with [-1, 1, -1]."""
    from cnnlab import ops, seedcode
    from cnnlab.viz import conv_lessons

    x = np.linspace(-5, 5, 25)
    signal = np.sin(x * 1.5) + np.cos(x / 2) + np.cos(x / 1.3 + 2)
    kernel = np.array([-1.0, 1.0, -1.0])
    ours = _op(ops.conv1d, signal[None, :, None], kernel[:, None, None])[0, :, 0]
    loops = seedcode.conv1d(signal, kernel)
    r.metric(signal_conv1d_max_abs_diff=float(np.abs(ours - loops).max()))
    r.figure(
        conv_lessons.signal_convolution(
            signal, kernel, ours, seedcode.conv1d_as_written(signal, kernel),
            title=f"{S003}, after Q3: sin(1.5x) + cos(x/2) + cos(x/1.3 + 2), 25 points, convolved with [-1, 1, -1]",
        ),
        "signal.png",
        f"{S003}, the 1-D demo after Q3: the signal on x = linspace(-5, 5, 25), the kernel [-1, 1, -1], and "
        "the 23-point convolution (cnnlab.ops.conv1d; the corrected loops agree to float32 rounding). Dashed: "
        "what the seed's own Q3 code computes, and so what its figure plots: only the last product of each "
        "window, -x[i+2], a shifted, negated copy of the input.",
    )  # fmt: skip


def hand_answers(r) -> None:
    """Seed 003's hand answers (Q1, Q6, Q9) and its code's bugs, each beside cnnlab.ops on the same input."""
    import jax
    import jax.numpy as jnp

    from cnnlab import ops, seedcode

    q1x, q1k = [2, 3, -1, 5, -2], [1, 2, 1]
    q6, q9 = [[2, 5], [-1, 3]], [5, 1, 7, 4, 3, 8, 2, 9, 6]

    def dk_ops(x, k):  # dL/dk of L = sum of the outputs, by jax.grad through cnnlab.ops.conv1d
        loss = lambda k: ops.conv1d(jnp.asarray(x, jnp.float32)[None, :, None], k[:, None, None]).sum()  # noqa: E731
        return np.asarray(jax.grad(loss)(jnp.asarray(k, jnp.float32)))

    rows = [
        ("Q3 `conv1d` (`output[i] =` for `+=`)", f"x={q1x}, k={q1k}", seedcode.conv1d_as_written(q1x, q1k),
         seedcode.conv1d(q1x, q1k), _op(ops.conv1d, np.reshape(q1x, (1, 5, 1)), np.reshape(q1k, (3, 1, 1))),
         "[7, 6, 7] (Q1, by hand)"),
        ("Q4 `conv1d_backward`, dL/dk (`kernel[j]` for `sequence[i+j]`)", "same, dL/dc = [1, 1, 1]",
         seedcode.conv1d_backward_as_written(q1x, q1k, [1, 1, 1])[1], seedcode.conv1d_backward(q1x, q1k, [1, 1, 1])[1],
         dk_ops(q1x, q1k), "[4, 7, 2] (by hand: window sums)"),
        ("Q6 padded `conv2d` (`> 0` for `>= 0`)", "[[2, 5], [-1, 3]], kernel [[1]], padding 1",
         seedcode.conv2d_padded_as_written(q6, [[1]], 1), seedcode.conv2d_padded(q6, [[1]], 1),
         _op(ops.conv2d, np.reshape(q6, (1, 2, 2, 1)), np.ones((1, 1, 1, 1)), padding=1),
         "[0, 0, 0, 0; 0, 2, 5, 0; 0, -1, 3, 0; 0, 0, 0, 0] (Q6)"),
        ("Q9 `maxpool1d` with stride (`(d - p + 1) // s` outputs)", f"{q9}, pool 1, stride 2",
         seedcode.maxpool1d_as_written(q9, 1, 2), seedcode.maxpool1d(q9, 1, 2),
         _op(ops.max_pool1d, np.reshape(q9, (1, 9, 1)), window=1, stride=2), "[5, 7, 3, 2, 6] (Q9)"),
    ]  # fmt: skip
    agree = all(np.array_equal(np.ravel(fixed), np.ravel(ours)) for _, _, _, fixed, ours, _ in rows)
    r.metric(seed_code_fixed_equals_ops=agree, q1_conv1d=rows[0][4].ravel(), q9_maxpool_stride2=rows[3][4].ravel())
    r.compare("Q1: [2, 3, -1, 5, -2] convolved with [1, 2, 1]", _fmt(rows[0][4]), "[7, 6, 7]",
              source=f"{S003}, Q1 (worked by hand)", note="cnnlab.ops.conv1d")  # fmt: skip
    r.compare("Q9: stride-1 output [5, 1, 7, 4, 3, 8, 2, 9, 6] taken at stride 2", _fmt(rows[3][4]),
              "[5, 7, 3, 2, 6]", source=f"{S003_P2}, Q9", note="cnnlab.ops.max_pool1d, window 1, stride 2")  # fmt: skip
    table = "\n".join(
        f"| {what} | {inp} | {_fmt(bad)} | {_fmt(fixed)} | {_fmt(ours)} | {seed} |"
        for what, inp, bad, fixed, ours, seed in rows
    )
    r.section(
        "**seed 003 (HMC homework 9), Parts 1 and 2: its answer code has bugs.** Each is run as printed "
        "(`cnnlab.seedcode.*_as_written`), "
        "corrected (`cnnlab.seedcode`), and beside `cnnlab.ops` on a small input; the last column is the seed's own "
        "answer. The Q6 bug cannot be seen on MNIST (row 0 and column 0 of every digit are blank, so the seed's "
        "padding figure is right); on Q6's own 2x2 example it drops 2, 5 and -1. Q9's text also asks for "
        "floor(Size / Stride) outputs, 4 here, where its example has 5.\n\n"
        "| seed code | input | as written | corrected | cnnlab.ops | seed's answer |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + table
    )


def q5_kernels(r, digit, label: str) -> None:
    """Seed 003 Part 1 after Q5: the edge kernel, its transpose and a blur on one digit, then the kernels."""
    from cnnlab import ops, seedcode
    from cnnlab.viz import conv_lessons

    names, bank = seedcode.colour_kernels(1)  # the same three kernels over one channel
    maps = _op(ops.conv2d, digit[None, :, :, None], bank)[0]
    panels = [(digit, f"Image ({label})")] + [(maps[..., i], n) for i, n in enumerate(names)]
    panels += [(bank[:, :, 0, i], f"kernel: {n}", "gray", (-1, 1)) for i, n in enumerate(names)]
    r.figure(
        conv_lessons.panel_row(panels,
                               title=f"{S003}, after Q5: three kernels on a digit (outputs, then the kernels)"),
        "q5_kernels.png",
        f"{S003}, after Q5: x_train[0] convolved (VALID, 26x26) with the seed's edge kernel, its transpose and an "
        "all-ones blur, then the three 3x3 kernels themselves (white +1, grey 0, black -1). The titles are the seed's; "
        "its 'Vertical edges' kernel responds to horizontal edges (top and bottom of strokes), and vice versa.",
    )  # fmt: skip


def padding_and_pooling(r, digit, label: str) -> None:
    """Seed 003 Part 1 after Q6 (padding 0 against 10), Part 2 after Q9 (max and average pooling, size 2)."""
    from numpy.lib.stride_tricks import sliding_window_view

    from cnnlab import ops, seedcode
    from cnnlab.viz import conv_lessons

    k = seedcode.EDGE_KERNEL
    outs = {p: _op(ops.conv2d, digit[None, :, :, None], k[:, :, None, None], padding=p)[0, :, :, 0] for p in (0, 10)}
    diff = max(float(np.abs(outs[p] - seedcode.conv2d_padded(digit, k, p)).max()) for p in outs)
    r.metric(padding_loops_max_abs_diff=diff, padding0_size=outs[0].shape[0], padding10_size=outs[10].shape[0])
    r.figure(
        conv_lessons.panel_row(
            [(digit, f"Image ({label})"), (outs[0], "Padding=0"), (outs[10], "Padding=10")],
            title=f"{S003}, after Q6: the edge kernel [[1,1,1],[0,0,0],[-1,-1,-1]], padding 0 and 10",
        ),
        "padding_0_10.png",
        f"{S003}, after Q6: one digit convolved with the seed's edge kernel with 0 and 10 zeros of padding "
        f"(cnnlab.ops.conv2d, padding=int): 28 - 3 + 1 = 26 and 28 - 3 + 1 + 20 = 46 pixels a side; the padded "
        f"output is the unpadded one framed by 10 pixels that see only zeros and the digit's blank border.",
    )  # fmt: skip
    x = digit[None, :, :, None]
    pools, worst = [(digit, f"Image ({label})")], 0.0
    for kind, fn, reduce in (("Maxpool", ops.max_pool2d, np.max), ("Avgpool", ops.avg_pool2d, np.mean)):
        for s in (1, 2):
            y = _op(fn, x, window=2, stride=s)[0, :, :, 0]
            windows = sliding_window_view(digit, (2, 2))[::s, ::s]  # NumPy's 2x2 windows, every s-th
            worst = max(worst, float(np.abs(y - reduce(windows, axis=(2, 3))).max()))
            pools.append((y, f"{kind}\nsize=2, stride={s}"))
    r.metric(pooling_numpy_max_abs_diff=worst)
    r.figure(
        conv_lessons.panel_row(pools, title=f"{S003_P2}, after Q9: max and average pooling, size 2, strides 1 and 2"),
        "pooling.png",
        f"{S003_P2}, after Q9 (nn.MaxPool2d / nn.AvgPool2d there, cnnlab.ops.max_pool2d / avg_pool2d here): size 2 "
        "at stride 1 keeps the resolution (27x27, every window overlaps the next) and thickens strokes (max) or "
        "smooths them (average); stride 2 halves it (14x14). Checked against NumPy's 2x2 windows.",
    )  # fmt: skip


def colour(r) -> None:
    """Seed 003 Q7/Q8: a colour photograph's channels, the three kernels over all channels, their RGB composite."""
    from cnnlab import ops, seedcode, teaching
    from cnnlab.viz import conv_lessons

    photo = seedcode.colour_photo(128)
    credit = seedcode.PHOTO[1]
    r.figure(
        conv_lessons.panel_row(
            [(photo, "Image"), (photo[..., 0], "Red channel"), (photo[..., 1], "Green channel"),
             (photo[..., 2], "Blue channel")],
            title=f"{S003}, before Q7: a colour image and its channels (stand-in photo: see caption)",
        ),
        "colour_channels.png",
        f"{S003}, before Q7: the three colour channels, each drawn in grey (light = much of that colour). The "
        f"seed uses skimage's astronaut, which cannot be downloaded here; this is {credit}, resized to 128 rows.",
    )  # fmt: skip
    names, kernel = seedcode.colour_kernels(3)
    maps = _op(ops.conv2d, photo[None], kernel)[0]  # (126, W - 2, 3)
    diff = float(np.abs(maps - teaching.conv2d_loops(photo[None], kernel)[0]).max())
    r.metric(colour_loops_max_abs_diff=diff, colour_photo_shape=photo.shape)
    panels = [(photo, "Image")] + [(maps[..., i], n) for i, n in enumerate(names)]
    r.figure(
        conv_lessons.panel_row(
            panels + [(seedcode.rgb_composite(maps), "All kernels")],
            title=f"{S003}, Q7 and Q8: three 3x3x3 kernels over all colour channels, and their outputs as RGB",
        ),
        "colour_kernels.png",
        f"{S003}, Q7/Q8: each kernel is the seed's 3x3 kernel stacked over the three channels, so each output "
        "sums the channels' edges (cnnlab.ops.conv2d, VALID; the loop definition agrees to float32 rounding). "
        "The titles are the seed's; its 'Vertical edges' kernel ([[1,1,1],[0,0,0],[-1,-1,-1]]) in fact responds "
        "to horizontal edges (changes from row to row), and its transpose to vertical ones. All kernels: the "
        f"three outputs as red, green and blue, min-max scaled over all three as the seed does. Photo: {credit}.",
    )  # fmt: skip


def seed_digits(train) -> np.ndarray:
    """MNIST's x_train[0:6], ``(6, 28, 28)`` in [0, 1]: x_train[0] of seed 004 is data[0] of seed 003.

    They are the first 5, 0, 4, 1, 9 and 2 of MNIST's training set; the offline subset keeps
    MNIST's order within each class (and its first of each class is a training image), so the
    first of each of those classes are the seeds' images. On another dataset: the same classes.
    """
    first = [int(np.flatnonzero(train.labels == c)[0]) for c in (5, 0, 4, 1, 9, 2)]
    return np.asarray(train.images[first, :, :, 0], np.float64) / 255.0


def run_all(r, train) -> None:
    """Every seed step, in the seeds' order."""
    digits = seed_digits(train)
    signal_demo(r)
    hand_answers(r)
    q5_kernels(r, digits[0], "x_train[0]")
    padding_and_pooling(r, digits[0], "x_train[0]")
    colour(r)
    seed004(r, digits)


def seed004(r, digits) -> None:
    """Seed 004 In [4]-[16]: a patch of x_train[0] as the kernel, the convolution, then 2x2 max pooling."""
    from cnnlab import ops, teaching
    from cnnlab.viz import conv_lessons

    x0, (r0, r1, c0, c1) = digits[0], (20, 25, 5, 10)  # In [4]: (c0, c1), (r0, r1) = (5, 10), (20, 25)
    kernel = x0[r0:r1, c0:c1]
    conv = _op(ops.conv2d, x0[None, :, :, None], kernel[:, :, None, None])
    pooled = _op(ops.max_pool2d, conv, window=2)[0, :, :, 0]
    loops = teaching.conv2d_loops(x0[None, :, :, None], kernel[:, :, None, None])
    r.metric(seed004_loops_max_abs_diff=float(np.abs(conv - loops).max()), seed004_pooled_size=pooled.shape[0])
    r.compare("seed 004 In [16]: conv 5x5 VALID then max pool 2x2 on 28x28, output side", pooled.shape[0], 12,
              source=f"{S004}, In [10] (24x24) and In [16]", note="cnnlab.ops.conv2d, max_pool2d")  # fmt: skip
    r.figure(
        conv_lessons.conv_then_pool(x0, (r0, r1, c0, c1), kernel, conv[0, :, :, 0], pooled,
                                    title=f"{S004}, In [4]-[16]: a patch as the kernel, convolution, max pooling"),
        "conv_then_pool.png",
        f"{S004}, In [4], [5], [13] and [16]: x_train[0] (MNIST's first training image, a 5: here the first 5 "
        "of the offline training digits, which keep MNIST's order within a class), its patch rows 20-24, "
        "columns 5-9 (red) used as a 5x5 kernel with zero bias, the 24x24 VALID convolution (brightest where the "
        "stroke looks like the patch), and the 12x12 result of MaxPooling2D((2, 2)).",
    )  # fmt: skip
    others = digits[1:]
    resp = _op(ops.conv2d, others[..., None], kernel[:, :, None, None])[..., 0]
    r.figure(
        conv_lessons.kernel_on_digits(others, resp, title=f"{S004}, In [8]: the same patch kernel on other digits"),
        "patch_kernel_on_digits.png",
        f"{S004}, In [8]: the patch of x_train[0] as a kernel on x_train[1:6] (here the first 0, 4, 1, 9 and 2 "
        "of the training digits, which those are): each response peaks where a stroke looks like the patch, "
        "a bottom-left curve; with no bias or normalisation, thick strokes score high anywhere.",
    )  # fmt: skip
