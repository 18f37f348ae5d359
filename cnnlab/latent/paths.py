"""Paths between two latent codes: straight lines (`lerp`) and great circles (`slerp`)."""

import functools

import jax
import jax.numpy as jnp

__all__ = ["lerp", "slerp"]

# Below this |sin(angle)| (about 1e-3 rad from parallel or antiparallel, or a zero endpoint)
# the great circle is undefined or numerically useless; there slerp and lerp differ by
# O(angle^2) relative, so `slerp` takes the straight line.
_PARALLEL_SIN = 1e-3


def _pair(fn: str, z0, z1, steps) -> tuple[jax.Array, jax.Array]:
    """Checks two endpoints of the same shape and floating dtype and an int ``steps >= 2``."""
    z0, z1 = jnp.asarray(z0), jnp.asarray(z1)
    if z0.shape != z1.shape:
        raise ValueError(f"{fn}: z0 and z1 must have the same shape; got {z0.shape} and {z1.shape}")
    if z0.size == 0:
        raise ValueError(f"{fn}: z0 and z1 are empty (shape {z0.shape})")
    for name, z in (("z0", z0), ("z1", z1)):
        if not jnp.issubdtype(z.dtype, jnp.floating):
            raise TypeError(f"{fn}: {name} must be floating; got {z.dtype}")
    if z0.dtype != z1.dtype:
        raise TypeError(f"{fn}: z0 and z1 must have the same dtype; got {z0.dtype} and {z1.dtype}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"{fn}: steps must be an int >= 2 (both endpoints are included); got {steps!r}")
    return z0, z1


def _fractions(steps: int, like: jax.Array) -> jax.Array:
    """``t = 0, 1/(steps-1), ..., 1`` shaped ``(steps, 1, ..., 1)`` to scale arrays like ``like``."""
    t = jnp.linspace(0.0, 1.0, steps, dtype=like.dtype)
    return t.reshape((steps,) + (1,) * like.ndim)


@functools.partial(jax.jit, static_argnames="steps")
def _lerp(z0, z1, steps):
    t = _fractions(steps, z0)
    # (1 - t) z0 + t z1 rather than z0 + t (z1 - z0): both endpoints come out exactly.
    return (1 - t) * z0[None] + t * z1[None]


@functools.partial(jax.jit, static_argnames="steps")
def _slerp(z0, z1, steps):
    a, b = z0.reshape(-1), z1.reshape(-1)
    norms = jnp.linalg.norm(a) * jnp.linalg.norm(b)
    cos = jnp.clip(jnp.dot(a, b) / jnp.where(norms > 0, norms, 1), -1.0, 1.0)
    omega = jnp.arccos(cos)
    sin = jnp.sin(omega)
    degenerate = (norms == 0) | (sin < _PARALLEL_SIN)
    sin = jnp.where(degenerate, 1, sin)
    t = _fractions(steps, z0)
    w0 = jnp.sin((1 - t) * omega) / sin
    w1 = jnp.sin(t * omega) / sin
    return jnp.where(degenerate, _lerp(z0, z1, steps), w0 * z0[None] + w1 * z1[None])


def lerp(z0, z1, steps: int) -> jax.Array:
    """Linear interpolation: ``steps`` evenly spaced points on the segment from ``z0`` to ``z1``.

    Point ``i`` is ``(1 - t_i) z0 + t_i z1`` with ``t_i = i / (steps - 1)``; the first and last
    are ``z0`` and ``z1`` exactly.

    Args:
      z0: floating array of any shape (a latent code: ``(D,)``, ``(4, 4, 8)``, ...).
      z1: same shape and dtype.
      steps: number of points, at least 2.

    Returns:
      ``(steps, *z0.shape)``.

    Raises:
      ValueError: different shapes, empty codes, or ``steps < 2``.
      TypeError: non-floating or different dtypes.

    Example:
      >>> lerp(jnp.zeros(2), jnp.ones(2), 3)[:, 0]
      Array([0. , 0.5, 1. ], dtype=float32)
    """
    z0, z1 = _pair("lerp", z0, z1, steps)
    return _lerp(z0, z1, steps)


def slerp(z0, z1, steps: int) -> jax.Array:
    """Spherical interpolation: ``steps`` points on the great-circle arc from ``z0`` to ``z1``.

    With ``omega`` the angle between the flattened codes (``cos omega = <z0, z1> / (|z0| |z1|)``),
    point ``i`` is ``sin((1 - t_i) omega) / sin(omega) z0 + sin(t_i omega) / sin(omega) z1``,
    ``t_i = i / (steps - 1)`` (Shoemake, 1985; White, "Sampling Generative Networks", 2016).
    The angle to ``z0`` grows evenly, ``t_i omega``; when ``|z0| = |z1|`` every point has that
    norm too, so the path stays in the shell where Gaussian codes live instead of cutting
    through the low-norm middle as `lerp` does. For (nearly) parallel or antiparallel codes
    (``sin omega < 1e-3``) or a zero endpoint the arc is undefined and `lerp`'s segment is
    returned instead. The endpoints are ``z0`` and ``z1`` exactly.

    Args:
      z0: floating array of any shape; flattened to measure the angle.
      z1: same shape and dtype.
      steps: number of points, at least 2.

    Returns:
      ``(steps, *z0.shape)``.

    Raises:
      ValueError: different shapes, empty codes, or ``steps < 2``.
      TypeError: non-floating or different dtypes.
    """
    z0, z1 = _pair("slerp", z0, z1, steps)
    return _slerp(z0, z1, steps)
