"""Activations and dropout."""

import jax
import jax.numpy as jnp

from cnnlab.ops._util import _is_int, check_float, check_rate

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout"]


def relu(x):
    """`max(x, 0)`, NaN kept as NaN (Keras, PyTorch, `jax.nn.relu`), so a NaN reaches the loss.

    The gradient is 0 where `x <= 0` (0 at 0, as in Keras and PyTorch) and passes the
    upstream gradient through elsewhere, NaN inputs included, as PyTorch does
    (`jax.nn.relu` gives 0 there). Written `where(x <= 0, 0, x)`, not `where(x > 0, x, 0)`:
    every comparison with NaN is False, and the latter would turn NaN into 0.
    """
    return jnp.where(x <= 0, jnp.zeros_like(x), x)


def sigmoid(x):
    """`1 / (1 + exp(-x))`, evaluated without overflow for large `|x|`."""
    check_float("sigmoid", "x", x)
    z = jnp.exp(-jnp.abs(x))  # in (0, 1]: never overflows, and neither does its gradient
    return jnp.where(x >= 0, 1 / (1 + z), z / (1 + z))


def tanh(x):
    """Hyperbolic tangent."""
    check_float("tanh", "x", x)
    return jnp.tanh(x)


def _check_classes(op, x, axis):
    """`axis` must index `x` and hold at least one class: a softmax over nothing is undefined."""
    check_float(op, "x", x)
    if not _is_int(axis) or not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"{op}: axis must be an int in [{-x.ndim}, {x.ndim}) for x of shape {tuple(x.shape)}, got {axis!r}"
        )
    if x.shape[axis] == 0:
        raise ValueError(f"{op}: x of shape {tuple(x.shape)} has size 0 along axis {axis}; needs at least one class")


def log_softmax(x, axis: int = -1):
    """`x - logsumexp(x)` along `axis`, shifted by the max for stability."""
    _check_classes("log_softmax", x, axis)
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis: int = -1):
    """`exp(x) / sum(exp(x))` along `axis`, shifted by the max for stability."""
    _check_classes("softmax", x, axis)
    e = jnp.exp(x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True)))
    return e / jnp.sum(e, axis=axis, keepdims=True)


def dropout(x, rate, *, key, training):
    """Zero each element with probability `rate` and scale the survivors by `1 / (1 - rate)`.

    `rate` is the probability of *dropping*, as in Keras and PyTorch (stax's `Dropout(rate)`
    is the keep probability; flax's `nnx.Dropout(rate)` drops, like ours).

    Args:
      x: floats, any shape.
      rate: drop probability in [0, 1): a Python or NumPy real scalar (or 0-d NumPy array),
        static; jax arrays and bools are refused.
      key: a `jax.random` key; required in training, ignored otherwise.
      training: bool; when False (or rate == 0) `x` is returned unchanged.

    Returns:
      An array like `x`, with expectation `x`.
    """
    check_float("dropout", "x", x)
    if not isinstance(training, bool):
        raise TypeError(f"dropout: training must be a Python bool (static), got {training!r}")
    rate = check_rate("dropout", rate)
    if not training or rate == 0:
        return x
    if key is None:
        raise ValueError("dropout: key must be a jax.random key when training=True and rate > 0")
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / jnp.array(1.0 - rate, x.dtype), jnp.zeros_like(x))
