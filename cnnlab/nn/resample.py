"""`UpSampling2D`, Keras's upsampling layer over `ops.upsample2d`."""

from flax import nnx

from cnnlab import ops
from cnnlab.ops._util import ntuple

__all__ = ["UpSampling2D"]


class UpSampling2D(nnx.Module):
    """Upsampling by integer factors, Keras `UpSampling2D` (`"nearest"` or half-pixel `"bilinear"`).

    Example:
      >>> import jax.numpy as jnp
      >>> from cnnlab.nn import UpSampling2D
      >>> UpSampling2D(2)(jnp.ones((8, 7, 7, 8))).shape
      (8, 14, 14, 8)
    """

    def __init__(self, size: int | tuple[int, int] = 2, *, interpolation: str = "nearest"):
        self.size = ntuple("UpSampling2D", "size", size, 2)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f'UpSampling2D: interpolation must be "nearest" or "bilinear", got {interpolation!r}')
        self.interpolation = interpolation

    def __call__(self, x):
        """`(N, H, W, C) -> (N, H * sh, W * sw, C)`."""
        return ops.upsample2d(x, self.size, method=self.interpolation)
