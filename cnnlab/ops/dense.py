"""Dense (fully connected) layer maths and flattening."""

import jax.numpy as jnp

from cnnlab.ops._util import add_bias, check_bias, check_float, check_same_dtype, prod

__all__ = ["dense", "flatten"]


def dense(x, kernel, bias=None):
    """`x @ kernel + bias` over the last axis.

    Args:
      x: `(..., D_in)` floats.
      kernel: `(D_in, D_out)`, Keras `Dense` layout (PyTorch's `Linear.weight` is its transpose).
      bias: optional `(D_out,)`.

    Returns:
      `(..., D_out)`.

    Example:
      >>> dense(jnp.ones((8, 400)), jnp.ones((400, 120))).shape
      (8, 120)
    """
    op = "dense"
    for name, a in (("x", x), ("kernel", kernel)):
        if not hasattr(a, "shape"):
            raise TypeError(f"{op}: {name} must be an array, got {type(a).__name__}")
        check_float(op, name, a)
    if kernel.ndim != 2:
        raise ValueError(f"{op}: kernel must have rank 2 (D_in, D_out), got shape {tuple(kernel.shape)}")
    if x.ndim < 1 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(
            f"{op}: x's last axis must equal kernel's D_in={kernel.shape[0]}, got x {tuple(x.shape)}, "
            f"kernel {tuple(kernel.shape)}; flatten images first"
        )
    if kernel.shape[0] == 0:
        raise ValueError(
            f"{op}: x has D_in=0 features; needs at least 1 (the product would be silently 0); "
            f"x {tuple(x.shape)}, kernel {tuple(kernel.shape)}"
        )
    check_same_dtype(op, x=x, kernel=kernel, bias=bias)
    bias = check_bias(op, bias, kernel.shape[1], x.dtype)
    y = jnp.matmul(x, kernel)
    return add_bias(y, bias)


def flatten(x):
    """Flatten every axis but the first: `(N, d1, d2, ...) -> (N, d1*d2*...)`, row-major (NHWC order).

    Example:
      >>> flatten(jnp.ones((8, 5, 5, 16))).shape
      (8, 400)
    """
    if not hasattr(x, "shape") or x.ndim < 1:
        raise ValueError(f"flatten: x must be an array with a batch axis, got {getattr(x, 'shape', x)!r}")
    return jnp.reshape(x, (x.shape[0], prod(x.shape[1:])))
