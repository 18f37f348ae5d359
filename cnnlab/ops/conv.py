"""Convolutions from scratch: conv1d, conv2d and the transposed conv2d.

One private helper, `_conv`, computes a padded stride/dilation convolution of an
NHWC input as a single matrix product (see its docstring for the two
layouts it chooses between). The public ops resolve padding and derive from it:

* `conv2d` pads, then calls it;
* `conv1d` is `conv2d` on a height-1 image;
* `conv2d_transpose` is the adjoint of `conv2d`. In the textbook form it dilates its
  input by the stride (inserting `stride - 1` zeros between pixels), pads by
  `dilation * (k - 1) - padding`, and convolves with the spatially flipped,
  channel-swapped kernel (Dumoulin & Visin, arXiv:1603.07285, relationship 14);
  `_conv_transpose` computes the same sum in scatter form, without the zeros.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from cnnlab.ops._util import (
    Pads,
    add_bias,
    check_array,
    check_bias,
    check_same_dtype,
    explicit_pads,
    ntuple,
    out_sizes,
    window_padding,
)

__all__ = ["conv1d", "conv2d", "conv2d_transpose", "conv_output_size", "conv_transpose_output_size"]


def _effective(k: int, d: int) -> int:
    """Extent of a kernel of size `k` with dilation `d`."""
    return (k - 1) * d + 1


def _transpose_out_sizes(sizes, eff, stride, pads: Pads) -> tuple[int, ...]:
    """Output size of a transposed conv: a stride-1 conv over the input dilated by `stride`."""
    return out_sizes([(n - 1) * s + 1 for n, s in zip(sizes, stride)], eff, (1,) * len(sizes), pads)


def _matmul(x, m):
    """`(..., K) @ (K, O)` as one 2-D product: its gradients are 2-D products too, which XLA
    maps to a single GEMM (an einsum over `nhwk` would contract three axes for dW)."""
    return (x.reshape(-1, x.shape[-1]) @ m).reshape(*x.shape[:-1], m.shape[-1])


# The compute of each op is one compiled program even when called eagerly (a model run op by op
# in a notebook, or in a test): otherwise every jnp step would dispatch, and compile, on its own.
# Under an outer jit it is inlined.
@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _conv(x, kernel, stride, dilation, pads: Pads):
    """Conv of `x` (N, H, W, C) zero-padded by `pads` (negative crops) with `kernel` (KH, KW, C, O).

    Two ways to turn the convolution into one matrix product, chosen per shape by the
    bytes each materialises (XLA on CPU runs the product near peak; what costs is
    memory traffic, so the cheaper layout wins):

    * im2col: gather the KH*KW shifted views of the padded input side by side on the
      channel axis, `(N, OH, OW, KH*KW*C)`, and multiply by the kernel as `(KH*KW*C, O)`.
      Best when C is small (a first layer on grey images: C = 1).
    * column-gather, row-scatter ("hybrid"): gather only the KW column taps of the
      unpadded rows, `(N, H, OW, KW*C)`, multiply by the kernel arranged `(KW*C, KH*O)`,
      then add the KH row taps as shifted row slices of the product, the row padding
      applied to the product rather than the input. It moves KW + KH channel blocks per
      pixel instead of KH*KW and multiplies no padding rows, which wins once C is more
      than a few.

    Both are plain jnp/lax (pad, slice, concatenate, reshape, matmul), so JAX
    differentiates them to any order, forward or reverse, and the transposes XLA
    derives stay cheap. (With one input channel the patches are gathered by
    `_concat_taps`, selects with a custom JVP, for XLA:CPU's sake; see there.)
    """
    kh, kw, c, o = kernel.shape
    n, h, w, _ = x.shape
    (sh, sw), (dh, dw) = stride, dilation
    (top, bottom), _ = pads
    hp = h + top + bottom
    oh, ow = out_sizes((h, w), (_effective(kh, dh), _effective(kw, dw)), stride, pads)
    if kh == kw == 1:
        xs = _pad(x, pads)[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]
        return _matmul(xs, kernel[0, 0])
    im2col_bytes = oh * ow * (kh * kw * c + o)
    hybrid_bytes = h * ow * (kw * c + kh * o)
    if im2col_bytes <= hybrid_bytes:
        xp = _pad(x, pads)
        cols = [
            xp[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
            for i in range(kh)
            for j in range(kw)
        ]
        patches = _concat_taps(cols) if c == 1 else jnp.concatenate(cols, axis=-1)  # (N, OH, OW, KH*KW*C)
        return _matmul(patches, kernel.reshape(kh * kw * c, o))
    xp = _pad(x, ((0, 0), pads[1]))  # columns only: rows are padded after the product
    cols = [xp[:, :, j * dw : j * dw + (ow - 1) * sw + 1 : sw] for j in range(kw)]
    xw = jnp.concatenate(cols, axis=-1)  # (N, H, OW, KW*C), taps j major
    wr = kernel.transpose(1, 2, 0, 3).reshape(kw * c, kh * o)  # rows (j, c), columns (i, o)
    z = _pad(_matmul(xw, wr), ((top, bottom), (0, 0)))  # (N, Hp, OW, KH*O)
    z = z.reshape(n, hp, ow, kh, o)
    y = None
    for i in range(kh):
        row = z[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, :, i, :]
        y = row if y is None else y + row
    return y


@jax.custom_jvp
def _concat_taps(cols):
    """``concatenate(cols, axis=-1)`` for single-channel columns, as one loop of selects.

    XLA:CPU gives a minor-axis concatenation of thin operands its own copy loop, after
    materialising each operand (the padded, shifted slices of the image); selecting
    among them by an iota over the tap axis fuses the pads, the slices and the write of
    the patches into one loop: the same values, about 4x fewer bytes moved for a grey
    first layer. The derivative is the concatenation of the tangents, so reverse mode
    transposes it into slices, as for `jnp.concatenate` (the transpose of the selects
    would sum broadcast zeros instead).
    """
    shape = (*cols[0].shape[:-1], len(cols))
    tap = lax.broadcasted_iota(jnp.int32, shape, len(shape) - 1)
    out = jnp.broadcast_to(cols[0], shape)
    for k, col in enumerate(cols[1:], 1):
        out = jnp.where(tap == k, jnp.broadcast_to(col, shape), out)
    return out


@_concat_taps.defjvp
def _concat_taps_jvp(primals, tangents):
    (cols,), (dcols,) = primals, tangents
    return _concat_taps(cols), jnp.concatenate(dcols, axis=-1)


def _pad(x, pads: Pads, value=0):
    """Pad the spatial axes of an NHWC array; negative pads crop."""
    config = [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in pads] + [(0, 0, 0)]
    return lax.pad(x, jnp.array(value, x.dtype), config)


def conv_output_size(size, kernel_size, *, stride=1, padding="VALID", dilation=1):
    """Spatial output size of `conv2d`/`max_pool2d` on a `size` (H, W) input.

    Args:
      size: `(H, W)` of the input.
      kernel_size: `(KH, KW)` of the kernel or window.
      stride, padding, dilation: as for `conv2d`.

    Returns:
      `(OH, OW)`.
    """
    size = ntuple("conv_output_size", "size", size, 2, minimum=0)
    k = ntuple("conv_output_size", "kernel_size", kernel_size, 2)
    stride = ntuple("conv_output_size", "stride", stride, 2)
    dilation = ntuple("conv_output_size", "dilation", dilation, 2)
    eff = [_effective(a, d) for a, d in zip(k, dilation)]
    pads = window_padding("conv_output_size", padding, size, eff, stride)
    return out_sizes(size, eff, stride, pads)


def _conv_args(op, x, kernel, bias, stride, dilation, *, transpose: bool):
    """Check and normalise the arguments shared by `conv2d` and `conv2d_transpose`.

    The kernel's input-channel axis is 2 for `conv2d` (HWIO) and 3 for the transposed
    conv (Keras's `(KH, KW, C_out, C_in)`). Returns `(x, kernel, bias, stride, dilation,
    effective kernel sizes)`.
    """
    layout = "(KH, KW, C_out, C_in)" if transpose else "(KH, KW, C_in, C_out)"
    cin_axis, cout_axis = (3, 2) if transpose else (2, 3)
    x = check_array(op, "x", x, 4, "(N, H, W, C_in)")
    kernel = check_array(op, "kernel", kernel, 4, layout)
    check_same_dtype(op, x=x, kernel=kernel, bias=bias)
    if kernel.shape[cin_axis] != x.shape[3]:
        where = " (its last axis)" if transpose else ""
        raise ValueError(
            f"{op}: kernel has C_in={kernel.shape[cin_axis]}{where} but x has {x.shape[3]} channels; "
            f"x {tuple(x.shape)}, kernel {tuple(kernel.shape)} {layout}"
        )
    _check_not_empty(op, x, kernel, layout)
    bias = check_bias(op, bias, kernel.shape[cout_axis], x.dtype)
    stride = ntuple(op, "stride", stride, 2)
    dilation = ntuple(op, "dilation", dilation, 2)
    eff = [_effective(k, d) for k, d in zip(kernel.shape[:2], dilation)]
    return x, kernel, bias, stride, dilation, eff


def _check_not_empty(op, x, kernel, layout):
    """ValueError for no input channels or no kernel taps: the sum over them would be silently 0."""
    shapes = f"x {tuple(x.shape)}, kernel {tuple(kernel.shape)} {layout}"
    if x.shape[-1] == 0:
        raise ValueError(f"{op}: x has C_in=0 channels; needs at least 1; {shapes}")
    if 0 in kernel.shape[:-2]:
        raise ValueError(f"{op}: kernel {tuple(kernel.shape)} has a window of size 0; needs at least 1 tap; {shapes}")


def conv2d(x, kernel, bias=None, *, stride=1, padding="VALID", dilation=1):
    """2-D convolution (cross-correlation, as every deep-learning library means it).

    `y[n, i, j, o] = bias[o] + sum_{a, b, c} xp[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, o]`
    where `xp` is `x` zero-padded.

    Args:
      x: `(N, H, W, C_in)` float images, NHWC.
      kernel: `(KH, KW, C_in, C_out)`, HWIO, same dtype as `x`.
      bias: optional `(C_out,)`.
      stride: int or `(sh, sw)`.
      padding: `"SAME"` (output `ceil(H / sh)`, extra pixel bottom/right, as Keras/TF),
        `"VALID"`, an int, `(ph, pw)`, or `((top, bottom), (left, right))` (explicit zeros,
        as PyTorch).
      dilation: int or `(dh, dw)`; spacing between kernel taps.

    Returns:
      `(N, OH, OW, C_out)`, with `OH = (H + top + bottom - dh*(KH-1) - 1) // sh + 1`.

    Example:
      >>> x = jnp.ones((8, 28, 28, 1)); k = jnp.ones((5, 5, 1, 6))
      >>> conv2d(x, k).shape
      (8, 24, 24, 6)
    """
    op = "conv2d"
    x, kernel, bias, stride, dilation, eff = _conv_args(op, x, kernel, bias, stride, dilation, transpose=False)
    pads = window_padding(op, padding, x.shape[1:3], eff, stride)
    y = _conv(x, kernel, stride, dilation, pads)
    return add_bias(y, bias)


def conv1d(x, kernel, bias=None, *, stride=1, padding="VALID", dilation=1):
    """1-D convolution (cross-correlation) over the length axis.

    Args:
      x: `(N, L, C_in)` floats, NLC.
      kernel: `(K, C_in, C_out)`.
      bias: optional `(C_out,)`.
      stride, dilation: int.
      padding: `"SAME"`, `"VALID"`, an int, or `(left, right)`.

    Returns:
      `(N, OL, C_out)`.

    Example:
      >>> x = jnp.array([2., 3., -1., 5., -2.]).reshape(1, 5, 1)
      >>> conv1d(x, jnp.array([1., 2., 1.]).reshape(3, 1, 1))[0, :, 0]
      Array([7., 6., 7.], dtype=float32)
    """
    # Checked here, on the 1-D shapes, so that errors name conv1d and what the caller passed;
    # then computed as the conv of a height-1 image.
    op = "conv1d"
    x = check_array(op, "x", x, 3, "(N, L, C_in)")
    kernel = check_array(op, "kernel", kernel, 3, "(K, C_in, C_out)")
    check_same_dtype(op, x=x, kernel=kernel, bias=bias)
    if kernel.shape[1] != x.shape[2]:
        raise ValueError(
            f"{op}: kernel has C_in={kernel.shape[1]} but x has {x.shape[2]} channels; "
            f"x {tuple(x.shape)}, kernel {tuple(kernel.shape)} (K, C_in, C_out)"
        )
    _check_not_empty(op, x, kernel, "(K, C_in, C_out)")
    bias = check_bias(op, bias, kernel.shape[2], x.dtype)
    (stride,) = ntuple(op, "stride", stride, 1)
    (dilation,) = ntuple(op, "dilation", dilation, 1)
    pads = window_padding(op, padding, x.shape[1:2], [_effective(kernel.shape[0], dilation)], [stride])
    y = _conv(x[:, None], kernel[None], (1, stride), (1, dilation), ((0, 0), *pads))
    return add_bias(y[:, 0], bias)


def _transpose_pads(op, padding, output_padding, k_eff, stride, dilation, n=2) -> Pads:
    """Pads of the stride-dilated input for a transposed conv, from Keras or PyTorch padding.

    A transposed conv is a stride-1 conv of the dilated input padded by `(lo, hi)`:
    its output is `(in - 1) * stride + 1 + lo + hi - k_eff + 1` long.
    """
    if output_padding is not None:
        output_padding = ntuple(op, "output_padding", output_padding, n, minimum=0)
        for p, s, d in zip(output_padding, stride, dilation):
            if p >= max(s, d):
                raise ValueError(
                    f"{op}: output_padding must be smaller than the stride (or the dilation, "
                    f"if larger) in every dimension, got output_padding={output_padding}, "
                    f"stride={stride}, dilation={dilation}"
                )
    if isinstance(padding, str):
        mode = padding.upper()
        if mode not in ("SAME", "VALID"):
            raise ValueError(f'{op}: padding must be "SAME", "VALID", an int or pairs, got {padding!r}')
        pads = []
        for i, (k, s) in enumerate(zip(k_eff, stride)):
            op_i = None if output_padding is None else output_padding[i]
            # Keras 3's rule (keras/src/backend/common/backend_utils.py), so that our
            # Conv2DTranspose reproduces Keras's output pixel for pixel.
            if mode == "VALID":
                op_i = max(k, s) - k if op_i is None else op_i
                pads.append((k - 1, k - 1 + op_i))
            else:
                total = s + k - 2 if op_i is None else k + k % 2 - 2 + op_i
                lo = min(total // 2 + total % 2, k - 1)
                pads.append((lo, total - lo))
        return tuple(pads)
    # PyTorch ConvTranspose2d: `padding` removes that many pixels from each side of the
    # full transposed output; `output_padding` adds back pixels at the high end.
    torch_pads = explicit_pads(op, padding, n)
    ops = output_padding or (0,) * n
    return tuple((k - 1 - lo, k - 1 - hi + p) for k, (lo, hi), p in zip(k_eff, torch_pads, ops))


def conv_transpose_output_size(size, kernel_size, *, stride=1, padding="VALID", output_padding=None, dilation=1):
    """Spatial output size `(OH, OW)` of `conv2d_transpose` on a `size` (H, W) input."""
    op = "conv_transpose_output_size"
    size = ntuple(op, "size", size, 2)
    k = ntuple(op, "kernel_size", kernel_size, 2)
    stride = ntuple(op, "stride", stride, 2)
    dilation = ntuple(op, "dilation", dilation, 2)
    eff = [_effective(a, d) for a, d in zip(k, dilation)]
    pads = _transpose_pads(op, padding, output_padding, eff, stride, dilation)
    return _transpose_out_sizes(size, eff, stride, pads)


def conv2d_transpose(x, kernel, bias=None, *, stride=1, padding="VALID", output_padding=None, dilation=1):
    """Transposed 2-D convolution ("deconvolution"): the adjoint of `conv2d`.

    For a kernel `k` of layout `(KH, KW, C_out, C_in)`, `conv2d_transpose(x, k)` is the
    vector-Jacobian product of `y -> conv2d(y, k)` at cotangent `x`, with the matching
    stride, dilation and padding. Each input pixel scatters a `KH x KW` stamp of the
    kernel into the output, `stride` pixels apart.

    Args:
      x: `(N, H, W, C_in)` floats.
      kernel: `(KH, KW, C_out, C_in)`, the layout Keras stores for `Conv2DTranspose`
        (PyTorch's `ConvTranspose2d.weight` is `(C_in, C_out, KH, KW)`).
      bias: optional `(C_out,)`.
      stride: int or pair.
      padding: `"SAME"` or `"VALID"` as Keras `Conv2DTranspose` means them (SAME: output
        `H * stride`; VALID: `(H - 1) * stride + max(KH_eff, stride)`), or an int, a pair,
        or `((top, bottom), (left, right))` as PyTorch `ConvTranspose2d` means `padding`:
        output `(H - 1) * stride - top - bottom + dilation * (KH - 1) + output_padding + 1`.
      output_padding: None or int/pair, each smaller than `max(stride, dilation)`; extra rows
        and columns at the bottom/right, as in Keras and PyTorch.
      dilation: int or pair.

    Returns:
      `(N, OH, OW, C_out)`.

    Example:
      >>> x = jnp.ones((2, 7, 7, 64)); k = jnp.ones((3, 3, 32, 64))
      >>> conv2d_transpose(x, k, stride=2, padding="SAME").shape
      (2, 14, 14, 32)
    """
    op = "conv2d_transpose"
    x, kernel, bias, stride, dilation, eff = _conv_args(op, x, kernel, bias, stride, dilation, transpose=True)
    pads = _transpose_pads(op, padding, output_padding, eff, stride, dilation)
    out = _transpose_out_sizes(x.shape[1:3], eff, stride, pads)
    if min(out) < 1:
        raise ValueError(
            f"{op}: padding {padding!r} removes more than the whole output: input {tuple(x.shape)}, "
            f"kernel {tuple(kernel.shape)}, stride {stride} give output size {tuple(out)}"
        )
    y = _conv_transpose(x, kernel, stride, dilation, pads)
    return add_bias(y, bias)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))  # one program when called eagerly (see _conv)
def _conv_transpose(x, kernel, stride, dilation, pads):
    """Transposed conv with `pads` on the stride-dilated input (negative pads crop).

    Scatter form: one product `x @ kernel` gives every pixel's `KH x KW` stamp, and each
    tap's plane is placed `stride` apart (a pad with interior padding) and summed. Unlike
    the textbook gather form (convolve the zero-dilated input with the flipped kernel),
    it multiplies no inserted zeros, a factor stride**2 fewer operations. The gather form
    is kept for stride 1, where it moves fewer bytes when C_out > C_in.
    """
    kh, kw, co, ci = kernel.shape
    n, h, w, _ = x.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh, ow = _transpose_out_sizes((h, w), (_effective(kh, dh), _effective(kw, dw)), stride, pads)
    if sh == sw == 1 and co > ci:
        return _conv(x, kernel[::-1, ::-1].swapaxes(2, 3), (1, 1), dilation, pads)
    z = _matmul(x, kernel.reshape(kh * kw * co, ci).T).reshape(n, h, w, kh, kw, co)
    zero = jnp.array(0, x.dtype)
    # Tap (a, b) of input pixel (i, j) lands at output (i*sh + a*dh - top, j*sw + b*dw - left),
    # where top/left = K_eff - 1 - pads[.][0] are the rows/columns the padding crops.
    top = _effective(kh, dh) - 1 - pads[0][0]
    left = _effective(kw, dw) - 1 - pads[1][0]
    y = None
    for a in range(kh):
        lo_h = a * dh - top
        hi_h = oh - lo_h - ((h - 1) * sh + 1)
        for b in range(kw):
            lo_w = b * dw - left
            hi_w = ow - lo_w - ((w - 1) * sw + 1)
            plane = lax.pad(z[:, :, :, a, b], zero, [(0, 0, 0), (lo_h, hi_h, sh - 1), (lo_w, hi_w, sw - 1), (0, 0, 0)])
            y = plane if y is None else y + plane
    return y
