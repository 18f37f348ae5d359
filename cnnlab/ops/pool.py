"""Max and average pooling from scratch, 1-D and 2-D.

One private windowed reducer serves all four public ops. Pooling over a
rectangular window is separable (the max over a KH x KW window is the max over
KH rows of the max over KW columns, likewise for sums), so the reducer works one
spatial axis at a time, combining `window` strided views. When the window tiles
the image (window == stride), a sum reduces a reshaped window axis, and a max
takes a balanced tree of elementwise maxima over the KH*KW strided views (for
windows of up to 16 pixels), which is what makes the classic 2x2/2 pooling cheap
forwards and backwards.

Padding: max pooling pads with -inf, so a padded pixel never wins (never 0: a
0 would beat an all-negative window); a window holding a NaN gives NaN, as in PyTorch
(`jnp.maximum` and `max` propagate it, and no padding outranks it). Average pooling with "SAME" divides by the
number of real pixels under the window (Keras, TensorFlow); with explicit padding
it pads zeros and divides by the full window size (PyTorch's default
`count_include_pad=True`).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnlab.ops._util import Pads, check_array, ntuple, out_sizes, window_padding

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"]


#: Largest non-overlapping max window (KH*KW pixels) reduced as a tree of elementwise maxima.
_MAX_TREE_TAPS = 16


def _reduce_axis(x, axis: int, k: int, s: int, out: int, kind: str):
    """Reduce windows of `k` with stride `s` along `axis` (already padded) -> `out` long."""
    if k == 1 and s == 1:
        return x
    if k == s:
        # The window tiles the axis: drop the VALID remainder, fold the window into its own axis.
        x = lax.slice_in_dim(x, 0, out * s, axis=axis)
        x = x.reshape(x.shape[:axis] + (out, s) + x.shape[axis + 1 :])
        return x.max(axis=axis + 1) if kind == "max" else x.sum(axis=axis + 1)
    combine = jnp.maximum if kind == "max" else jnp.add
    acc = None
    for i in range(k):
        view = lax.slice_in_dim(x, i, i + (out - 1) * s + 1, stride=s, axis=axis)
        acc = view if acc is None else combine(acc, view)
    return acc


def _pool_pads(op, padding, sizes, window, stride) -> Pads:
    """Resolve `padding` for windows `window` over `sizes`, each pad smaller than its window."""
    pads = window_padding(op, padding, sizes, window, stride)
    for k, (lo, hi) in zip(window, pads):
        if max(lo, hi) >= k:
            shown = window[0] if len(window) == 1 else window
            raise ValueError(
                f"{op}: padding {padding!r} must be smaller than the window {shown} on every side, "
                f"or some windows would hold nothing but padding"
            )
    return pads


def _pool2d(op, x, window, stride, padding, kind):
    """Check the 2-D pools' arguments, then pool."""
    window = ntuple(op, "window", window, 2)
    stride = window if stride is None else ntuple(op, "stride", stride, 2)
    pads = _pool_pads(op, padding, x.shape[1:3], window, stride)
    return _pool(x, window, stride, pads, kind, same=_is_same(padding))


def _is_same(padding) -> bool:
    return isinstance(padding, str) and padding.upper() == "SAME"


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4), static_argnames=("same",))  # one program eagerly too
def _pool(x, window, stride, pads: Pads, kind, *, same: bool):
    """Shared body of the pools (the 1-D ones through a height-1 image), on checked arguments."""
    fill = -jnp.inf if kind == "max" else 0
    xp = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=jnp.array(fill, x.dtype))
    outs = out_sizes(x.shape[1:3], window, stride, pads)
    if window == stride and kind == "max" and window[0] * window[1] <= _MAX_TREE_TAPS:
        # Non-overlapping small windows (the classic 2x2/2): a balanced tree of elementwise
        # maxima, whose derivative `_tiled_max` writes as one pass over the input.
        (kh, kw), (oh, ow) = window, outs
        y = _tiled_max(xp[:, : oh * kh, : ow * kw], kh, kw)
    elif window == stride:
        # Non-overlapping windows: one reshape, one reduction.
        (kh, kw), (oh, ow) = window, outs
        t = xp[:, : oh * kh, : ow * kw].reshape(x.shape[0], oh, kh, ow, kw, x.shape[3])
        y = t.max(axis=(2, 4)) if kind == "max" else t.sum(axis=(2, 4))
    else:
        y = _reduce_axis(xp, 2, window[1], stride[1], outs[1], kind)
        y = _reduce_axis(y, 1, window[0], stride[0], outs[0], kind)
    if kind == "max":
        return y
    if same:
        counts = _window_counts(x.shape[1:3], window, stride, pads, outs)
        return y / jnp.asarray(counts, x.dtype)
    return y / jnp.array(window[0] * window[1], x.dtype)


def _tree_max(views, *, shares: bool = False):
    """The balanced tree of pairwise maxima over `views`, and with ``shares`` each view's
    share of the tree's derivative: the product, along its path, of 1 for the larger side
    of a pair, 1/2 for a tie, 0 for the smaller (or NaN) side, as `jnp.maximum`'s own."""
    nodes = [(v, [k]) for k, v in enumerate(views)]
    if not shares:
        while len(nodes) > 1:
            paired = [(jnp.maximum(a, b), []) for (a, _), (b, _) in zip(nodes[0::2], nodes[1::2])]
            nodes = paired + (nodes[-1:] if len(nodes) % 2 else [])
        return nodes[0][0]
    shares = [None] * len(views)
    while len(nodes) > 1:
        paired = []
        for (a, ka), (b, kb) in zip(nodes[0::2], nodes[1::2]):
            half = jnp.where(a == b, 0.5, 0.0)
            for side, leaves in ((jnp.where(a > b, 1.0, half), ka), (jnp.where(b > a, 1.0, half), kb)):
                for k in leaves:
                    shares[k] = side if shares[k] is None else shares[k] * side
            paired.append((jnp.maximum(a, b), ka + kb))
        nodes = paired + (nodes[-1:] if len(nodes) % 2 else [])
    return nodes[0][0], [jnp.ones_like(views[0]) if s is None else s.astype(views[0].dtype) for s in shares]


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _tiled_max(x, kh, kw):
    """Max over the `kh x kw` tiles of `(N, OH*kh, OW*kw, C)` -> `(N, OH, OW, C)`.

    The value is the balanced tree of elementwise maxima over the KH*KW strided views,
    which XLA fuses into one loop. The derivative is that tree's (ties split as
    `_tree_max` says), written through each pixel's share of its window: the tangent is
    `sum(share * t)` over each tile, so reverse mode transposes it to a broadcast of the
    cotangent over the tile times the share, one elementwise pass over the input. The
    tree's own transpose adds KH*KW interior-padded copies, each recomputing the
    comparisons: 1.5x slower for the 2x2 pooling of a 28x28x32 map on CPU.
    """
    return _tree_max(_tile_views(x, kh, kw))


@_tiled_max.defjvp
def _tiled_max_jvp(kh, kw, primals, tangents):
    (x,), (t,) = primals, tangents
    n, h, w, c = x.shape
    y, shares = _tree_max(_tile_views(x, kh, kw), shares=True)
    # Back to the input's layout: the shares of pixel (i, j) of every tile sit at (kh*a + i, kw*b + j).
    share = jnp.stack(shares).reshape(kh, kw, n, h // kh, w // kw, c).transpose(2, 3, 0, 4, 1, 5)
    share = lax.stop_gradient(share.reshape(n, h, w, c))
    return y, (share * t).reshape(n, h // kh, kh, w // kw, kw, c).sum(axis=(2, 4))


def _tile_views(x, kh, kw):
    """The KH*KW views `x[:, i::kh, j::kw]` of a tiled `(N, OH*kh, OW*kw, C)`, row-major."""
    n, h, w, c = x.shape
    return [lax.slice(x, (0, i, j, 0), (n, h, w, c), (1, kh, kw, 1)) for i in range(kh) for j in range(kw)]


def _window_counts(size, window, stride, pads: Pads, outs) -> np.ndarray:
    """How many real (unpadded) pixels each output window covers: `(1, OH, OW, 1)`, static."""
    per_axis = []
    for n, k, s, (lo, _), o in zip(size, window, stride, pads, outs):
        start = np.arange(o) * s - lo
        per_axis.append(np.minimum(start + k, n) - np.maximum(start, 0))
    return (per_axis[0][:, None] * per_axis[1][None, :])[None, :, :, None].astype(np.float32)


def max_pool2d(x, window, *, stride=None, padding="VALID"):
    """2-D max pooling.

    Args:
      x: `(N, H, W, C)` floats.
      window: int or `(wh, ww)`.
      stride: int or pair; defaults to `window` (non-overlapping windows).
      padding: `"VALID"`, `"SAME"` (Keras/TF: output `ceil(H / stride)`, padded with -inf,
        extra pixel bottom/right), an int, `(ph, pw)` or `((top, bottom), (left, right))`
        (-inf padding, as PyTorch).

    Returns:
      `(N, OH, OW, C)`. Where several pixels tie for the max, the gradient is split
      among them: each tie of the pairwise maxima that compute the window halves it, so
      two or four tied pixels of a 2x2 window get equal shares, three get 1/4, 1/4, 1/2
      (any such split is a valid subgradient; lax/PyTorch give it all to one pixel).

    Example:
      >>> max_pool2d(jnp.ones((8, 28, 28, 32)), 2).shape
      (8, 14, 14, 32)
    """
    op = "max_pool2d"
    x = check_array(op, "x", x, 4, "(N, H, W, C)")
    return _pool2d(op, x, window, stride, padding, "max")


def avg_pool2d(x, window, *, stride=None, padding="VALID"):
    """2-D average pooling.

    Args:
      x: `(N, H, W, C)` floats.
      window: int or `(wh, ww)`.
      stride: int or pair; defaults to `window`.
      padding: `"VALID"`; `"SAME"`, where each mean is over the real pixels only, padding
        excluded (Keras/TF); or explicit int/pairs, where the zeros count (PyTorch's
        `count_include_pad=True`).

    Returns:
      `(N, OH, OW, C)`.

    Example:
      >>> x = jnp.array([[1., 2.], [3., 4.]]).reshape(1, 2, 2, 1)
      >>> avg_pool2d(x, 2, stride=1, padding="SAME")[0, :, :, 0]
      Array([[2.5, 3. ],
             [3.5, 4. ]], dtype=float32)
    """
    op = "avg_pool2d"
    x = check_array(op, "x", x, 4, "(N, H, W, C)")
    return _pool2d(op, x, window, stride, padding, "avg")


def _pool1d(op, x, window, stride, padding, kind):
    """Check the 1-D pools' arguments on their own shapes (errors name the 1-D op), then pool."""
    x = check_array(op, "x", x, 3, "(N, L, C)")
    window = ntuple(op, "window", window, 1)
    stride = window if stride is None else ntuple(op, "stride", stride, 1)
    pads = _pool_pads(op, padding, x.shape[1:2], window, stride)
    y = _pool(x[:, None], (1, *window), (1, *stride), ((0, 0), *pads), kind, same=_is_same(padding))
    return y[:, 0]


def max_pool1d(x, window, *, stride=None, padding="VALID"):
    """1-D max pooling over the length axis.

    Args:
      x: `(N, L, C)` floats.
      window: int.
      stride: int; defaults to `window`.
      padding: `"VALID"`, `"SAME"`, an int, or `(left, right)` (-inf padding).

    Returns:
      `(N, OL, C)`.

    Example:
      >>> x = jnp.array([1., 3., 2., 5., 4., 0.]).reshape(1, 6, 1)
      >>> max_pool1d(x, 2, stride=2)[0, :, 0]
      Array([3., 5., 4.], dtype=float32)
    """
    return _pool1d("max_pool1d", x, window, stride, padding, "max")


def avg_pool1d(x, window, *, stride=None, padding="VALID"):
    """1-D average pooling over the length axis; padding as in `avg_pool2d`.

    Args:
      x: `(N, L, C)` floats.
      window: int.
      stride: int; defaults to `window`.
      padding: `"VALID"`, `"SAME"` (padding excluded from the mean), an int or `(left, right)`.

    Returns:
      `(N, OL, C)`.
    """
    return _pool1d("avg_pool1d", x, window, stride, padding, "avg")
