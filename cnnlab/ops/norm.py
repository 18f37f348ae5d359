"""Batch normalization as a pure function with Keras `BatchNormalization` semantics."""

import functools

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["batch_norm"]


def _stat_dtype(dtype):
    """Statistics are computed in at least float32, as flax does, even for bfloat16 inputs."""
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


def batch_norm(x, gamma, beta, mean, var, *, training, momentum=0.99, epsilon=1e-3, axis=-1):
    """Normalize `x` per channel, and in training update the moving statistics.

    Training: normalize with the batch mean and the biased batch variance over every
    axis except `axis`, and return the moving statistics updated as
    `new = momentum * old + (1 - momentum) * batch` (Keras/flax convention; PyTorch's
    `momentum` is `1 - momentum`, and PyTorch stores the unbiased variance, Keras the
    biased one). Inference: normalize with `mean` and `var`, returned unchanged.

    The variance is computed two-pass, `mean((x - mean)**2)` in float32 or wider, and
    clamped at zero, so a channel with mean 1e4 and std 1e-2 stays exact where the
    one-pass `E[x^2] - E[x]^2` cancels to noise.

    Args:
      x: floats, e.g. `(N, H, W, C)` or `(N, C)`.
      gamma, beta: `(C,)` scale and offset, `C = x.shape[axis]`.
      mean, var: `(C,)` moving statistics.
      training: bool, static: batch statistics (True) or moving statistics (False).
      momentum: float in [0, 1]; weight of the old moving statistics.
      epsilon: added to the variance before the square root.
      axis: the channel axis.

    Returns:
      `(y, new_mean, new_var)`: `y` like `x`; the statistics in their own dtype.

    Example:
      >>> x = jnp.arange(8.).reshape(4, 2); c = jnp.ones(2)
      >>> y, m, v = batch_norm(x, c, 0 * c, 0 * c, c, training=True)
      >>> y.shape, m
      ((4, 2), Array([0.03, 0.04], dtype=float32))
    """
    op = "batch_norm"
    if not hasattr(x, "ndim"):
        raise TypeError(f"{op}: x must be an array, got {type(x).__name__}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{op}: x must have a floating dtype, got {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{op}: x must have rank >= 2 (a batch axis and a channel axis), got shape {x.shape}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op}: axis must be in [{-x.ndim}, {x.ndim}) for x of shape {x.shape}, got {axis}")
    axis = axis % x.ndim
    c = x.shape[axis]
    if c == 0:
        raise ValueError(f"{op}: x of shape {tuple(x.shape)} has no channels on axis {axis}; needs at least 1 channel")
    for name, a in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)):
        if not hasattr(a, "shape") or tuple(a.shape) != (c,):
            got = tuple(a.shape) if hasattr(a, "shape") else type(a).__name__
            raise ValueError(f"{op}: {name} must have shape ({c},) to match x.shape[{axis}]={c}, got {got}")
    if not isinstance(training, bool):
        raise TypeError(f"{op}: training must be a Python bool (static), got {training!r}")
    if training and x.size == 0:
        raise ValueError(
            f"{op}: x of shape {tuple(x.shape)} has no values to take batch statistics over; "
            f"training mode needs at least one example (and non-empty spatial axes)"
        )
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{op}: momentum must be in [0, 1], got {momentum}")
    if not epsilon > 0:
        raise ValueError(f"{op}: epsilon must be > 0, got {epsilon}")
    return _normalize(x, gamma, beta, mean, var, training, float(momentum), float(epsilon), axis)


@functools.partial(jax.jit, static_argnums=(5, 6, 7, 8))  # one program when called eagerly (see ops.conv)
def _normalize(x, gamma, beta, mean, var, training: bool, momentum: float, epsilon: float, axis: int):
    """`batch_norm` on checked arguments (``axis`` non-negative)."""
    c = x.shape[axis]
    bshape = [1] * x.ndim
    bshape[axis] = c
    sdt = _stat_dtype(x.dtype)
    xs = x.astype(sdt)
    if training:
        red = tuple(i for i in range(x.ndim) if i != axis)
        # Shifted data: subtract one sample per channel first (exact for nearby floats,
        # Sterbenz), so a channel with mean 1e4 and std 1e-2 sums small numbers, not large
        # ones whose float32 rounding (ulp 1e-3 at 1e4) would swamp the std. The shift
        # cancels in every output, hence stop_gradient.
        shift = lax.stop_gradient(jnp.moveaxis(xs, axis, -1).reshape(-1, c)[0])
        shifted = xs - shift.reshape(bshape)
        shifted_mean = jnp.mean(shifted, axis=red)
        batch_mean = shift + shifted_mean
        centred = shifted - shifted_mean.reshape(bshape)
        batch_var = jnp.maximum(jnp.mean(lax.square(centred), axis=red), 0)
        new_mean = (momentum * mean.astype(sdt) + (1 - momentum) * batch_mean).astype(mean.dtype)
        new_var = (momentum * var.astype(sdt) + (1 - momentum) * batch_var).astype(var.dtype)
        use_var = batch_var
    else:
        centred = xs - mean.astype(sdt).reshape(bshape)
        new_mean, new_var = mean, var
        use_var = var.astype(sdt)
    scale = lax.rsqrt(use_var + epsilon) * gamma.astype(sdt)
    y = centred * scale.reshape(bshape) + beta.astype(sdt).reshape(bshape)
    return y.astype(x.dtype), new_mean, new_var
