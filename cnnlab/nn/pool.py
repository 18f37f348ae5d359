"""Pooling layers: `MaxPool2D`, `AvgPool2D`."""

from flax import nnx

from cnnlab import ops
from cnnlab.nn._util import resolve_padding
from cnnlab.ops._util import ntuple

__all__ = ["MaxPool2D", "AvgPool2D"]


class _Pool2D(nnx.Module):
    _name = "Pool2D"
    _op = None

    def __init__(self, pool_size: int | tuple[int, int] = 2, *, strides=None, padding="valid"):
        self.pool_size = ntuple(self._name, "pool_size", pool_size, 2)
        # Keras: strides default to the window, non-overlapping pooling.
        self.strides = self.pool_size if strides is None else ntuple(self._name, "strides", strides, 2)
        self.padding = resolve_padding(self._name, padding)

    def __call__(self, x):
        """`(N, H, W, C) -> (N, H', W', C)`."""
        return type(self)._op(x, self.pool_size, stride=self.strides, padding=self.padding)


class MaxPool2D(_Pool2D):
    """Max pooling, Keras `MaxPooling2D` defaults (`pool_size=2`, strides = window, `"valid"`).

    `"same"` pads with -inf so that the output is `ceil(H / stride)` (Keras/TensorFlow).

    Example:
      >>> import jax.numpy as jnp
      >>> from cnnlab.nn import MaxPool2D
      >>> MaxPool2D(2, padding="same")(jnp.ones((8, 7, 7, 8))).shape
      (8, 4, 4, 8)
    """

    _name = "MaxPool2D"
    _op = staticmethod(ops.max_pool2d)


class AvgPool2D(_Pool2D):
    """Average pooling, Keras `AveragePooling2D` defaults; `"same"` windows average real pixels only.

    Example:
      >>> import jax.numpy as jnp
      >>> from cnnlab.nn import AvgPool2D
      >>> AvgPool2D(2)(jnp.ones((8, 28, 28, 6))).shape
      (8, 14, 14, 6)
    """

    _name = "AvgPool2D"
    _op = staticmethod(ops.avg_pool2d)
