"""`Reshape`: Keras's `layers.Reshape`, a per-example reshape with no parameters."""

import jax.numpy as jnp
from flax import nnx

from cnnlab.ops._util import prod

__all__ = ["Reshape"]


class Reshape(nnx.Module):
    """`(N, ...) -> (N, *shape)`, each example's values in row-major order, as Keras `Reshape`.

    Seed 004's network starts with `Reshape((28, 28, 1))` so that it takes `(N, 28, 28)`
    digits; an `(N, 28, 28, 1)` batch passes unchanged.

    Args:
      shape: the per-example shape, e.g. `(28, 28, 1)`.

    Example:
      >>> import jax.numpy as jnp
      >>> from cnnlab.nn import Reshape
      >>> Reshape((28, 28, 1))(jnp.ones((8, 28, 28))).shape
      (8, 28, 28, 1)
    """

    def __init__(self, shape: tuple[int, ...]):
        if not isinstance(shape, tuple) or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(f"Reshape: shape must be a non-empty tuple of positive ints, got {shape!r}")
        self.shape = shape

    def __call__(self, x):
        if not hasattr(x, "shape") or x.ndim < 2 or prod(x.shape[1:]) != prod(self.shape):
            got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(
                f"Reshape: x must be (N, ...) with {prod(self.shape)} values per example to become "
                f"(N, *{self.shape}), got {got}"
            )
        return jnp.reshape(x, (x.shape[0], *self.shape))
