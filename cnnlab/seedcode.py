"""Seed 003's answer code (HMC homework 9, Part 1 and Q9 of Part 2), as printed and as corrected.

The homework's reference answers have four bugs that a student copying them would meet.
Each ``*_as_written`` function is the seed's code line for line (NumPy loops), each plain
name the same loops corrected, so that a lesson (``cnnlab run conv-basics``) can print both
on a small input beside `cnnlab.ops` and the seed's own hand answers:

- Q3 ``conv1d``: ``output[i] = sequence[i+j] * kernel[j]`` keeps only the last product of
  each window; it must be ``+=`` (Q1's hand answer is ``[7, 6, 7]``).
- Q4 ``conv1d_backward``: ``dloss_dkernel[j] += dloss_doutput[i] * kernel[j]`` multiplies
  by the kernel; dc_i/dk_j is ``sequence[i+j]``.
- Q6 ``conv2d`` with padding: ``r+i - padding > 0`` (and ``c+j - padding > 0``) skips the
  image's first row and column; it must be ``>= 0``.
- Q9 ``maxpool1d`` with a stride: ``(length - pool_size + 1) // stride`` outputs drops the
  last one whenever ``stride`` does not divide the stride-1 length; the question's own
  example (9 stride-1 outputs -> 5 at stride 2) needs ``(length - pool_size) // stride + 1``
  (its formula, ``floor(Size / Stride)`` with Size the stride-1 length, gives 4 as well).

Beside them, the inputs of the notebook's figures: its edge and blur kernels for colour
images (`colour_kernels`, Q7/Q8), the RGB composite of three outputs (`rgb_composite`), and
a colour photograph that ships with matplotlib standing in for skimage's astronaut, which
cannot be downloaded here (`colour_photo`).

Everything is NumPy in, float64 NumPy out. Kernels are not flipped (cross-correlation, as
the seed and every deep-learning library define "convolution").
"""

import numpy as np

__all__ = [
    "EDGE_KERNEL",
    "PHOTO",
    "colour_kernels",
    "colour_photo",
    "conv1d",
    "conv1d_as_written",
    "conv1d_backward",
    "conv1d_backward_as_written",
    "conv2d_padded",
    "conv2d_padded_as_written",
    "maxpool1d",
    "maxpool1d_as_written",
    "rgb_composite",
]

#: The notebook's edge kernel (after Q5): +1 on the top row, -1 on the bottom one. It responds
#: where intensity changes from one row to the next, i.e. at horizontal edges, though the
#: notebook titles its output "Vertical edges" (and that of its transpose "Horizontal edges").
EDGE_KERNEL = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], np.float64)

#: The colour photograph of the colour lessons and its credit line.
PHOTO = (
    "grace_hopper.jpg",
    "Grace Hopper, U.S. Navy photograph (public domain), from matplotlib's sample data (mpl-data/sample_data)",
)


def _vectors(fn: str, **arrays) -> list[np.ndarray]:
    """The named arguments as 1-D float64 arrays; ValueError naming one that is not 1-D or is empty."""
    out = []
    for name, a in arrays.items():
        a = np.asarray(a, np.float64)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"{fn}: {name} must be a non-empty 1-D array; got shape {a.shape}")
        out.append(a)
    return out


def _conv1d_length(fn: str, sequence, kernel) -> int:
    n = len(sequence) - len(kernel) + 1  # Q2: d - s + 1
    if n < 1:
        raise ValueError(f"{fn}: the kernel ({len(kernel)}) is longer than the sequence ({len(sequence)})")
    return n


def conv1d_as_written(sequence, kernel) -> np.ndarray:
    """Seed 003, Q3, as printed: ``output[i] =`` where ``+=`` is meant (only ``x[i+s-1] * k[s-1]`` is left).

    Example:
      >>> conv1d_as_written([2, 3, -1, 5, -2], [1, 2, 1])
      array([-1.,  5., -2.])
    """
    sequence, kernel = _vectors("conv1d_as_written", sequence=sequence, kernel=kernel)
    output = np.zeros((_conv1d_length("conv1d_as_written", sequence, kernel),))
    for i in range(len(output)):
        for j in range(len(kernel)):
            output[i] = sequence[i + j] * kernel[j]
    return output


def conv1d(sequence, kernel) -> np.ndarray:
    """Seed 003, Q3, corrected: ``c_i = sum_j x_{i+j} k_j`` for ``i < d - s + 1``.

    Example (Q1's hand answer):
      >>> conv1d([2, 3, -1, 5, -2], [1, 2, 1])
      array([7., 6., 7.])
    """
    sequence, kernel = _vectors("conv1d", sequence=sequence, kernel=kernel)
    output = np.zeros((_conv1d_length("conv1d", sequence, kernel),))
    for i in range(len(output)):
        for j in range(len(kernel)):
            output[i] += sequence[i + j] * kernel[j]
    return output


def _backward(fn: str, sequence, kernel, dloss_doutput, *, as_written: bool):
    sequence, kernel, g = _vectors(fn, sequence=sequence, kernel=kernel, dloss_doutput=dloss_doutput)
    n = _conv1d_length(fn, sequence, kernel)
    if len(g) != n:
        raise ValueError(f"{fn}: dloss_doutput must have the output's length {n}; got {len(g)}")
    dloss_dsequence, dloss_dkernel = np.zeros_like(sequence), np.zeros_like(kernel)
    for i in range(n):
        for j in range(len(kernel)):
            dloss_dsequence[i + j] += g[i] * kernel[j]
            dloss_dkernel[j] += g[i] * (kernel[j] if as_written else sequence[i + j])
    return dloss_dsequence, dloss_dkernel


def conv1d_backward_as_written(sequence, kernel, dloss_doutput) -> tuple[np.ndarray, np.ndarray]:
    """Seed 003, Q4, as printed: ``(dL/dx, dL/dk)`` with ``kernel[j]`` where ``sequence[i+j]`` belongs in dL/dk."""
    return _backward("conv1d_backward_as_written", sequence, kernel, dloss_doutput, as_written=True)


def conv1d_backward(sequence, kernel, dloss_doutput) -> tuple[np.ndarray, np.ndarray]:
    """Seed 003, Q4, corrected: ``dL/dx_{i+j} += g_i k_j`` and ``dL/dk_j += g_i x_{i+j}``.

    Example (L = sum of the outputs, so ``g`` is all ones: dL/dk_j is the sum of a window):
      >>> conv1d_backward([2, 3, -1, 5, -2], [1, 2, 1], [1, 1, 1])
      (array([1., 3., 4., 3., 1.]), array([4., 7., 2.]))
    """
    return _backward("conv1d_backward", sequence, kernel, dloss_doutput, as_written=False)


def _padded(fn: str, image, kernel, padding: int, *, first: int) -> np.ndarray:
    image, kernel = np.asarray(image, np.float64), np.asarray(kernel, np.float64)
    if image.ndim != 2 or kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"{fn}: image must be 2-D and kernel square 2-D; got {image.shape} and {kernel.shape}")
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
        raise ValueError(f"{fn}: padding must be an int >= 0; got {padding!r}")
    s, (h, w) = kernel.shape[0], image.shape
    oh, ow = h - s + 1 + 2 * padding, w - s + 1 + 2 * padding
    if oh < 1 or ow < 1:
        raise ValueError(f"{fn}: kernel {s}x{s} is larger than the padded image ({h + 2 * padding}x{w + 2 * padding})")
    output = np.zeros((oh, ow))
    for r in range(oh):
        for c in range(ow):
            for i in range(s):
                for j in range(s):
                    y, x = r + i - padding, c + j - padding
                    if y >= first and y < h and x >= first and x < w:
                        output[r, c] += image[y, x] * kernel[i, j]
    return output


def conv2d_padded_as_written(image, kernel, padding: int = 0) -> np.ndarray:
    """Seed 003, Q6, as printed: ``> 0`` where ``>= 0`` is meant, so row 0 and column 0 of the image never count.

    Example (a 1x1 kernel of 1 returns the zero-padded image, Q6's own example, but for the dropped 2, 5, -1):
      >>> conv2d_padded_as_written([[2, 5], [-1, 3]], [[1]], padding=1)
      array([[0., 0., 0., 0.],
             [0., 0., 0., 0.],
             [0., 0., 3., 0.],
             [0., 0., 0., 0.]])
    """
    return _padded("conv2d_padded_as_written", image, kernel, padding, first=1)


def conv2d_padded(image, kernel, padding: int = 0) -> np.ndarray:
    """Seed 003, Q6, corrected: ``padding`` zeros on every side, then the 2-D convolution of Q5.

    Example (Q6's example, padding 1):
      >>> conv2d_padded([[2, 5], [-1, 3]], [[1]], padding=1)
      array([[ 0.,  0.,  0.,  0.],
             [ 0.,  2.,  5.,  0.],
             [ 0., -1.,  3.,  0.],
             [ 0.,  0.,  0.,  0.]])
    """
    return _padded("conv2d_padded", image, kernel, padding, first=0)


def _maxpool(fn: str, sequence, pool_size: int, stride: int, *, as_written: bool) -> np.ndarray:
    (sequence,) = _vectors(fn, sequence=sequence)
    for name, v in (("pool_size", pool_size), ("stride", stride)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{fn}: {name} must be an int >= 1; got {v!r}")
    if pool_size > len(sequence):
        raise ValueError(f"{fn}: pool_size {pool_size} is longer than the sequence ({len(sequence)})")
    span = len(sequence) - pool_size
    n = (span + 1) // stride if as_written else span // stride + 1
    output = np.ones((n,)) * -np.inf
    for i in range(n):
        for k in range(pool_size):
            output[i] = np.maximum(output[i], sequence[i * stride + k])
    return output


def maxpool1d_as_written(sequence, pool_size: int = 3, stride: int = 1) -> np.ndarray:
    """Seed 003, Q9, as printed: ``(length - pool_size + 1) // stride`` outputs, often one short.

    Example (Q9's stride-1 output, pooled again with size 1 and stride 2: the seed wants [5, 7, 3, 2, 6]):
      >>> maxpool1d_as_written([5, 1, 7, 4, 3, 8, 2, 9, 6], pool_size=1, stride=2)
      array([5., 7., 3., 2.])
    """
    return _maxpool("maxpool1d_as_written", sequence, pool_size, stride, as_written=True)


def maxpool1d(sequence, pool_size: int = 3, stride: int = 1) -> np.ndarray:
    """Seed 003, Q9, corrected: windows at ``0, stride, 2*stride, ...``, ``(length - pool_size) // stride + 1`` of them.

    The stride-1 output subsampled: ``maxpool1d(x, p, s) == maxpool1d(x, p, 1)[::s]``.

    Example (Q9's example):
      >>> maxpool1d([5, 1, 7, 4, 3, 8, 2, 9, 6], pool_size=1, stride=2)
      array([5., 7., 3., 2., 6.])
    """
    return _maxpool("maxpool1d", sequence, pool_size, stride, as_written=False)


def colour_kernels(channels: int = 3) -> tuple[list[str], np.ndarray]:
    """The notebook's three kernels over ``channels`` input channels, as one HWIO array ``(3, 3, channels, 3)``.

    Q7 stacks `EDGE_KERNEL` once per colour channel ("Vertical edges"), its transpose likewise
    ("Horizontal edges"), and Q7/Q8 add an all-ones kernel ("Blur"); each output sums over the
    channels. The names are the notebook's titles.
    """
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"colour_kernels: channels must be an int >= 1; got {channels!r}")
    ks = [EDGE_KERNEL, EDGE_KERNEL.T, np.ones((3, 3))]
    kernel = np.stack([np.repeat(k[:, :, None], channels, axis=2) for k in ks], axis=-1)
    return ["Vertical edges", "Horizontal edges", "Blur"], kernel


def rgb_composite(maps) -> np.ndarray:
    """Three ``(H, W, 3)`` output maps drawn as one RGB image, as Q8's "All kernels" panel does.

    The notebook's own scaling: subtract the minimum over all three, divide by the maximum.

    Example:
      >>> rgb_composite(np.array([[[-1.0, 0.0, 1.0]]]))
      array([[[0. , 0.5, 1. ]]])
    """
    maps = np.asarray(maps, np.float64)
    if maps.ndim != 3 or maps.shape[2] != 3:
        raise ValueError(f"rgb_composite: maps must be (H, W, 3); got {maps.shape}")
    out = maps - maps.min()
    top = out.max()
    if top == 0:
        raise ValueError("rgb_composite: the three maps are constant and equal; there is nothing to scale")
    return out / top


def colour_photo(height: int = 128) -> np.ndarray:
    """`PHOTO` from matplotlib's installed sample data, resized to ``height`` rows (aspect kept), RGB in [0, 1].

    Seed 003 loads skimage's astronaut and, in Colab, resizes it to 128 pixels; no download is
    possible here, so this photograph, which every matplotlib installation carries, stands in.
    """
    import matplotlib.cbook
    from PIL import Image

    if isinstance(height, bool) or not isinstance(height, int) or not 8 <= height <= 512:
        raise ValueError(f"colour_photo: height must be an int in [8, 512]; got {height!r}")
    path = matplotlib.cbook.get_sample_data(PHOTO[0], asfileobj=False)
    with Image.open(path) as im:
        im = im.convert("RGB")
        width = round(im.width * height / im.height)
        return np.asarray(im.resize((width, height), Image.Resampling.LANCZOS), np.float64) / 255.0
