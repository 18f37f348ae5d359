"""Upsampling by integer factors: nearest-neighbour and bilinear, from scratch.

Nearest repeats each pixel `scale` times along each axis (a broadcast and a
reshape, so its gradient is a reshape and a sum). Bilinear uses half-pixel
centres: output pixel `o` samples the input at `(o + 0.5) / scale - 0.5`, clamped
to the image, which is what Keras `UpSampling2D(interpolation="bilinear")` and
PyTorch `interpolate(mode="bilinear", align_corners=False)` compute. Because the
scale is static, each axis's interpolation is a fixed `(out, in)` matrix with
two non-zeros per row, applied with one `einsum` per axis.
"""

import jax.numpy as jnp
import numpy as np

from cnnlab.ops._util import check_array, ntuple

__all__ = ["upsample2d", "bilinear_matrix"]


def bilinear_matrix(size: int, scale: int) -> np.ndarray:
    """`(size * scale, size)` matrix of half-pixel-centre linear interpolation weights.

    Row `o` holds the weights of output pixel `o`: source `src = (o + 0.5) / scale - 0.5`
    clamped to `[0, size - 1]`, weight `1 - frac` on `floor(src)` and `frac` on the next.
    """
    src = np.clip((np.arange(size * scale) + 0.5) / scale - 0.5, 0, size - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, size - 1)
    frac = src - lo
    m = np.zeros((size * scale, size), np.float64)
    rows = np.arange(size * scale)
    np.add.at(m, (rows, lo), 1 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


def upsample2d(x, scale, *, method="nearest"):
    """Upsample NHWC images by integer factors.

    Args:
      x: `(N, H, W, C)` floats.
      scale: int or `(sh, sw)`, each >= 1.
      method: `"nearest"` (each pixel repeated) or `"bilinear"` (half-pixel centres, as
        Keras `UpSampling2D` and PyTorch `align_corners=False`).

    Returns:
      `(N, H * sh, W * sw, C)`.

    Example:
      >>> upsample2d(jnp.ones((2, 7, 7, 16)), 2).shape
      (2, 14, 14, 16)
    """
    op = "upsample2d"
    x = check_array(op, "x", x, 4, "(N, H, W, C)")
    sh, sw = ntuple(op, "scale", scale, 2)
    n, h, w, c = x.shape
    if method == "nearest":
        y = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
        return y.reshape(n, h * sh, w * sw, c)
    if method == "bilinear":
        # Weights are computed in float64 NumPy at trace time, then cast once to x's dtype.
        mh = jnp.asarray(bilinear_matrix(h, sh), x.dtype)
        mw = jnp.asarray(bilinear_matrix(w, sw), x.dtype)
        y = x if sh == 1 else jnp.einsum("oh,nhwc->nowc", mh, x)
        return y if sw == 1 else jnp.einsum("ow,nhwc->nhoc", mw, y)
    raise ValueError(f'{op}: method must be "nearest" or "bilinear", got {method!r}')
