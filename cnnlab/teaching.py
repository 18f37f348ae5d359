"""cnnlab.teaching: the worked examples of the course, as functions a lesson can call and a test can check.

Not building blocks (those are `cnnlab.ops`) but the definitions and hand-made inputs the
lessons show beside them: the loop-based convolution of the classic exercise
(`conv2d_loops`, the reference `ops.conv2d` is checked against in the ``conv-basics``
study), the hand-made 3x3 kernels (`kernel_bank`, `multichannel_kernel`), the inputs of the
multi-channel and template-matching lessons (`shifted_channels`, `inkiest_patch`), and the
checkerboard analysis of 2x upsamplings (`upsampling_patterns`, `upsampled_digit`,
`interior_ratio`) the ``denoise`` study reports. Everything is NumPy in, NumPy out.
"""

import numpy as np

__all__ = [
    "CHANNEL_SHIFTS",
    "KERNELS",
    "conv2d_loops",
    "inkiest_patch",
    "interior_ratio",
    "kernel_bank",
    "multichannel_kernel",
    "shifted_channels",
    "upsampled_digit",
    "upsampling_patterns",
]

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
    """A ``(3, 3, 3, 3)`` HWIO kernel for a 3-channel input, and its output channels' names.

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


def _same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one axis: output ``ceil(size / stride)``, the odd pixel at the end."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


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
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"conv2d_loops: stride must be an int >= 1; got {stride!r}")
    if padding not in ("VALID", "SAME"):
        raise ValueError(f'conv2d_loops: padding must be "VALID" or "SAME"; got {padding!r}')
    kh, kw, _, c_out = kernel.shape
    pads = (
        [(0, 0), (0, 0)]
        if padding == "VALID"
        else [_same_pads(x.shape[1], kh, stride), _same_pads(x.shape[2], kw, stride)]
    )
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    oh, ow = (xp.shape[1] - kh) // stride + 1, (xp.shape[2] - kw) // stride + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_loops: kernel {kh}x{kw} is larger than the padded input {xp.shape[1:3]}")
    y = np.zeros((x.shape[0], oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]  # (N, KH, KW, C_in)
            for o in range(c_out):
                y[:, i, j, o] = (window * kernel[:, :, :, o]).sum(axis=(1, 2, 3))
    return y


def shifted_channels(x, shifts=CHANNEL_SHIFTS) -> np.ndarray:
    """``(N, H, W, 1)`` images -> ``(N, H, W, len(shifts))``: channel ``c`` is the image moved by ``shifts[c]``.

    The moves are `cnnlab.data.translate`'s: ``(dy, dx)`` pixels down and right, zeros coming in.
    """
    from cnnlab import data

    x = np.asarray(x)
    return np.concatenate(
        [np.asarray(data.translate(x, np.tile(np.asarray(s, np.int32), (len(x), 1)))) for s in shifts], axis=-1
    )


def inkiest_patch(img, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size x size`` window of a 2-D ``img`` whose pixels vary most (largest std).

    The template-matching lesson cuts its template there: strokes and gaps, not blank paper.
    The first such window in row-major order wins a tie.
    """
    img = np.asarray(img)
    if img.ndim != 2 or not 1 <= size <= min(img.shape):
        raise ValueError(
            f"inkiest_patch: img must be 2-D and size in [1, {min(img.shape, default=0)}]; got {img.shape}, {size}"
        )
    best, corner = -1.0, (0, 0)
    for i in range(img.shape[0] - size + 1):
        for j in range(img.shape[1] - size + 1):
            v = float(img[i : i + size, j : j + size].std())
            if v > best:
                best, corner = v, (i, j)
    return corner


def upsampling_patterns(size: int = 6, *, seed: int = 0) -> dict[str, np.ndarray]:
    """2x upsamplings of a constant ``size x size`` image by three methods, with uniform and random kernels.

    A stride-2 transposed convolution stamps its kernel every 2 pixels, so with a 3x3 kernel
    interior output pixels receive 1, 2 or 4 stamps in a 2-periodic pattern (Odena, Dumoulin
    and Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016).

    Args:
      size: side of the constant (all-ones) input image, >= 3.
      seed: seeds the random kernels.

    Returns:
      ``{name: (H, W) float64 array}`` with names ``"{method}/{kernel}"``: methods
      ``"convT k3 s2"`` (``ops.conv2d_transpose``, 3x3 kernel, stride 2, VALID: ``2*size + 1``
      pixels a side), ``"convT k4 s2"`` (4x4 kernel, stride 2, VALID: ``2*size + 2``) and
      ``"up2 + conv k3"`` (``ops.upsample2d`` nearest by 2, then ``ops.conv2d`` 3x3 VALID:
      ``2*size - 2``); kernels ``"ones"`` (every weight 1, so each output pixel counts the
      kernel stamps that cover it) and ``"random"`` (weights uniform in [0.5, 1.5]).

    Example:
      >>> upsampling_patterns(4)["convT k3 s2/ones"][4:7, 4:7]
      array([[4., 2., 4.],
             [2., 1., 2.],
             [4., 2., 4.]])
    """
    import jax
    import jax.numpy as jnp

    from cnnlab import ops

    if isinstance(size, bool) or not isinstance(size, int) or size < 3:
        raise ValueError(f"upsampling_patterns: size must be an int >= 3; got {size!r}")
    x = jnp.ones((1, size, size, 1), jnp.float32)
    k3, k4, kc = jax.random.split(jax.random.key(seed), 3)
    kernels = {
        "ones": (jnp.ones((3, 3, 1, 1)), jnp.ones((4, 4, 1, 1)), jnp.ones((3, 3, 1, 1))),
        "random": tuple(
            jax.random.uniform(k, (n, n, 1, 1), minval=0.5, maxval=1.5) for k, n in ((k3, 3), (k4, 4), (kc, 3))
        ),
    }
    out = {}
    for kind, (w3, w4, wc) in kernels.items():
        out[f"convT k3 s2/{kind}"] = ops.conv2d_transpose(x, w3, stride=2, padding="VALID")
        out[f"convT k4 s2/{kind}"] = ops.conv2d_transpose(x, w4, stride=2, padding="VALID")
        out[f"up2 + conv k3/{kind}"] = ops.conv2d(ops.upsample2d(x, 2), wc, padding="VALID")
    return {k: np.asarray(v[0, ..., 0], np.float64) for k, v in out.items()}


def upsampled_digit(image) -> dict[str, np.ndarray]:
    """An image halved (2x2 average pooling) and brought back by the three methods, all-ones kernels.

    Args:
      image: ``(H, W, 1)`` float image in [0, 1], ``H`` and ``W`` even (a 28x28 digit).

    Returns:
      ``{method: (H, W) float64 array}`` for the methods of `upsampling_patterns`, with SAME
      padding so that every output is ``H x W``, each divided by its kernel's sum over the
      number of stamps a pixel gets on average (9/4 for 3x3, 16/4 for 4x4, 9 for the
      convolution after upsampling) so that the three are on one scale.
    """
    import jax.numpy as jnp

    from cnnlab import ops

    x = ops.avg_pool2d(jnp.asarray(image, jnp.float32)[None], 2)
    out = {
        "convT k3 s2": ops.conv2d_transpose(x, jnp.ones((3, 3, 1, 1)), stride=2, padding="SAME") / (9 / 4),
        "convT k4 s2": ops.conv2d_transpose(x, jnp.ones((4, 4, 1, 1)), stride=2, padding="SAME") / (16 / 4),
        "up2 + conv k3": ops.conv2d(ops.upsample2d(x, 2), jnp.ones((3, 3, 1, 1)), padding="SAME") / 9,
    }
    return {k: np.asarray(v[0, ..., 0], np.float64) for k, v in out.items()}


def interior_ratio(pattern, border: int = 2) -> float:
    """Largest over smallest value of a 2-D ``pattern`` without ``border`` pixels on each side (1 = uniform).

    Example:
      >>> interior_ratio(np.array([[9, 9, 9], [9, 4, 9], [9, 9, 9]]), border=1)
      1.0
    """
    p = np.asarray(pattern)
    inner = p[border : p.shape[0] - border, border : p.shape[1] - border]
    if inner.size == 0:
        raise ValueError(
            f"interior_ratio: nothing is left of a {np.shape(pattern)} pattern without {border} border pixels"
        )
    return float(inner.max() / inner.min())
