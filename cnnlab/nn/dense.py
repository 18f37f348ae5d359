"""`Dense`, `Flatten`, `Unflatten`."""

from collections.abc import Callable

import jax.numpy as jnp
from flax import nnx

from cnnlab import ops
from cnnlab.nn._util import (
    Activation,
    check_channels,
    check_features,
    default_bias_init,
    default_kernel_init,
    resolve_activation,
)
from cnnlab.ops._util import prod

__all__ = ["Dense", "Flatten", "Unflatten"]


class Dense(nnx.Module):
    """Fully connected layer, Keras `Dense` layout and defaults: `activation(x @ kernel + bias)`.

    Args:
      in_features: D_in.
      out_features: D_out (Keras `units`).
      activation: None (linear), `"relu"`, `"sigmoid"`, `"tanh"`, `"softmax"` or a callable.
      use_bias: whether to add a `(D_out,)` bias.
      kernel_init, bias_init: `(key, shape, dtype) -> array`; glorot-uniform and zeros.
      dtype: parameter dtype.
      rngs: `nnx.Rngs` with a `params` stream.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import Dense
      >>> layer = Dense(400, 120, activation="tanh", rngs=nnx.Rngs(0))
      >>> layer.kernel.shape, layer(jnp.ones((8, 400))).shape
      ((400, 120), (8, 120))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        activation: Activation = None,
        use_bias: bool = True,
        kernel_init: Callable = default_kernel_init,
        bias_init: Callable = default_bias_init,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        check_features("Dense", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.activation = resolve_activation("Dense", activation)
        self.kernel = nnx.Param(kernel_init(rngs.params(), (in_features, out_features), dtype))
        self.bias = nnx.Param(bias_init(rngs.params(), (out_features,), dtype)) if use_bias else None

    def __call__(self, x):
        """`(..., D_in) -> (..., D_out)`."""
        check_channels("Dense", x, self.in_features, "D_in")
        bias = None if self.bias is None else self.bias[...]
        return self.activation(ops.dense(x, self.kernel[...], bias))


class Flatten(nnx.Module):
    """`(N, d1, d2, ...) -> (N, d1 * d2 * ...)` in row-major (NHWC) order, as Keras `Flatten`.

    PyTorch flattens NCHW; `cnnlab.interop.torch` permutes the first `Dense` after a
    `Flatten` accordingly.

    Example:
      >>> import jax.numpy as jnp
      >>> from cnnlab.nn import Flatten
      >>> Flatten()(jnp.ones((8, 5, 5, 16))).shape
      (8, 400)
    """

    def __call__(self, x):
        return ops.flatten(x)


class Unflatten(nnx.Module):
    """`(N, prod(shape)) -> (N, *shape)`, the inverse of `Flatten` (Keras `Reshape`).

    Args:
      shape: the per-example shape, e.g. `(5, 5, 16)`.

    Example:
      >>> import jax.numpy as jnp
      >>> from cnnlab.nn import Unflatten
      >>> Unflatten((5, 5, 16))(jnp.ones((8, 400))).shape
      (8, 5, 5, 16)
    """

    def __init__(self, shape: tuple[int, ...]):
        if not isinstance(shape, tuple) or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(f"Unflatten: shape must be a non-empty tuple of positive ints, got {shape!r}")
        self.shape = shape

    def __call__(self, x):
        if not hasattr(x, "shape") or x.ndim != 2 or x.shape[1] != prod(self.shape):
            got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(
                f"Unflatten: x must have shape (N, {prod(self.shape)}) to become (N, *{self.shape}), got {got}"
            )
        return jnp.reshape(x, (x.shape[0], *self.shape))
