"""Argument normalisation shared by the layers: activations, padding strings, initializers."""

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab import ops

Activation = str | Callable | None


def linear(x):
    """The identity activation (Keras `"linear"`, or `activation=None`)."""
    return x


ACTIVATIONS: dict[str, Callable] = {
    "linear": linear,
    "relu": ops.relu,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "softmax": ops.softmax,
}


@partial(jax.jit, static_argnums=(1, 2))
def _uniform_flat(key, n: int, dtype):
    """`n` uniform [0, 1) draws in one flat vector (compiled once per power-of-two bucket)."""
    return jax.random.uniform(key, (n,), dtype)


def glorot_uniform(key, shape, dtype=jnp.float32):
    """Keras's default kernel initializer: uniform on `[-limit, limit]`, `limit = sqrt(6 / (fan_in + fan_out))`.

    `fan_in = receptive field * shape[-2]`, `fan_out = receptive field * shape[-1]`, as Keras
    and `jax.nn.initializers.glorot_uniform` compute them. The draws are made flat, in a
    power-of-two bucket, then cut and reshaped: `jax.random.uniform` on a 4-D shape compiles
    for over a second per distinct shape on CPU, which made building a small model take tens
    of seconds; a flat draw compiles once per bucket.
    """
    shape = tuple(shape)
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = receptive * shape[-2], receptive * shape[-1]
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    n = math.prod(shape)
    u = _uniform_flat(key, 1 << max(n - 1, 1).bit_length(), jnp.dtype(dtype))
    if jnp.dtype(dtype) == jnp.float32 and not isinstance(u, jax.core.Tracer):
        # The scaling in NumPy (the same float32 operations, so the same values): as JAX
        # eager ops, the slice, scale and reshape each compiled once per kernel shape,
        # about 0.2 s a kernel.
        u = np.asarray(u)[:n]
        return jnp.asarray(((2 * u - 1) * np.float32(limit)).reshape(shape))
    return ((2 * u[:n] - 1) * jnp.asarray(limit, dtype)).reshape(shape)


def zeros(key, shape, dtype=jnp.float32):
    """Keras's default bias initializer."""
    del key
    return jnp.zeros(shape, dtype)


# Keras's defaults: glorot-uniform kernels and zero biases.
default_kernel_init = glorot_uniform
default_bias_init = zeros


def resolve_activation(layer: str, activation: Activation) -> Callable:
    """`None | "relu" | ... | callable -> callable`, else ValueError naming the known names."""
    if activation is None:
        return linear
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"{layer}: activation must be None, a callable or one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        return ACTIVATIONS[activation]
    if callable(activation):
        return activation
    raise TypeError(f"{layer}: activation must be None, a string or a callable, got {activation!r}")


def resolve_padding(layer: str, padding):
    """Keras's `"same"`/`"valid"` (any case) -> the ops' `"SAME"`/`"VALID"`; numbers pass through."""
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f'{layer}: padding must be "same", "valid" or explicit numbers, got {padding!r}')
        return padding.upper()
    return padding


def check_features(layer: str, **sizes) -> None:
    """Every size must be a positive Python int."""
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{layer}: {name} must be a positive int, got {v!r}")


def check_channels(layer: str, x, expected: int, axis_name: str = "C_in") -> None:
    """The last axis of `x` must be `expected`: say which layer, what it got, and what it needs."""
    if not hasattr(x, "shape") or x.ndim < 1 or x.shape[-1] != expected:
        got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{layer}: x must have {axis_name}={expected} on its last axis, got shape {got}")
