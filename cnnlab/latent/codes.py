"""Through an autoencoder: encode datasets, decode codes, interpolate two images, decode a 2-D grid."""

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnlab import models
from cnnlab.data import to_float
from cnnlab.latent.paths import lerp, slerp

__all__ = ["decode", "encode", "interpolate_latent", "interpolate_pixels", "latent_grid"]


def _scale(a: jax.Array) -> jax.Array:
    """uint8 images -> float32 in [0, 1] by `cnnlab.data.to_float` (as training feeds them); floats as they are."""
    return to_float(a) if a.dtype == jnp.uint8 else a


@functools.partial(jax.jit, static_argnames=("fn", "batch_size"))
def _map_batched(fn, params, x, *, batch_size: int):
    """``fn(params, batch)`` over ``x`` in batches, one compiled ``lax.map``; uint8 scaled to [0, 1].

    ``fn`` is a pure function from `cnnlab.models.decoder`/`encoder`, one object per model
    graph, so models of one architecture share the compiled program. The last batch is padded
    with copies of the first example and the padding dropped, as `train.core.apply_batched` does.
    """
    n = x.shape[0]
    pad = -n % batch_size
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))]) if pad else x
    out = jax.lax.map(lambda b: fn(params, _scale(b)), xp.reshape((-1, batch_size, *x.shape[1:])))
    return jax.tree.map(lambda o: o.reshape((-1, *o.shape[2:]))[:n], out)


def _batched(fn: str, model: nnx.Module, method: str, x, batch_size: int) -> jax.Array:
    """``model.<method>`` in evaluation mode over ``x`` in batches, through the pure function of
    `cnnlab.models.encoder`/`decoder` (built from an evaluation-mode copy; ``model`` keeps its
    mode); model errors name ``fn``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{fn}: batch_size must be a positive int; got {batch_size!r}")
    if not isinstance(model, nnx.Module) or not callable(getattr(model, method, None)):
        raise TypeError(f"{fn}: model must have a {method}() method (an autoencoder); got {type(model).__name__}")
    apply, params = (models.encoder if method == "encode" else models.decoder)(model)
    try:
        return _map_batched(apply, params, x, batch_size=min(batch_size, x.shape[0]))
    except (ValueError, TypeError) as e:
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(f"{fn}: {type(model).__name__}.{method} cannot take {x.shape} {x.dtype}: {e}") from e


def encode(model: nnx.Module, images, *, batch_size: int = 256) -> jax.Array:
    """The latent codes of a dataset: ``model.encode`` in evaluation mode, batch by batch, jit-compiled.

    Runs the pure ``encode`` of `cnnlab.models.encoder` (an evaluation-mode copy of the model:
    ``model`` itself keeps its mode).

    Args:
      model: an autoencoder (``encode``/``decode`` methods, e.g. `cnnlab.models.StridedAutoencoder`).
      images: ``(N, H, W, C)`` (or whatever rank ``model.encode`` takes, batch first); uint8 is
        scaled to [0, 1] as `cnnlab.train.fit` does, floats are taken as they are.
      batch_size: examples per compiled batch; the last batch is padded and the padding dropped.

    Returns:
      ``(N, *latent_shape)`` codes, e.g. ``(N, 2)`` for `StridedAutoencoder`.

    Raises:
      ValueError: fewer than 2 axes, no examples, a bad ``batch_size``, or shapes the model rejects.
      TypeError: an integer dtype other than uint8, or a model without ``encode``.

    Example:
      >>> from cnnlab import models
      >>> images = np.zeros((3, 28, 28, 1), np.uint8)  # e.g. test.images
      >>> z = encode(models.StridedAutoencoder(rngs=nnx.Rngs(0)), images)
      >>> z.shape
      (3, 2)
    """
    x = jnp.asarray(images)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"encode: images must be a batch (N, H, W, C) with N >= 1; got shape {x.shape}")
    if x.dtype != jnp.uint8 and not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"encode: images must be uint8 (0..255) or floating (0..1); got {x.dtype}")
    return _batched("encode", model, "encode", x, batch_size)


def decode(model: nnx.Module, z, *, batch_size: int = 256) -> jax.Array:
    """Images from latent codes: ``model.decode`` in evaluation mode, batch by batch, jit-compiled.

    Runs the pure ``decode`` of `cnnlab.models.decoder`, as `interpolate_latent` and
    `latent_grid` do; ``model`` itself keeps its mode.

    Args:
      model: an autoencoder.
      z: floating ``(N, *latent_shape)`` codes, any points (encoded, interpolated, on a grid, sampled).
      batch_size: codes per compiled batch.

    Returns:
      ``(N, H, W, C)`` images (floats; in [0, 1] for a sigmoid output).

    Raises:
      ValueError: fewer than 2 axes, no codes, a bad ``batch_size``, or a code shape the model rejects.
      TypeError: non-floating codes, or a model without ``decode``.
    """
    z = jnp.asarray(z)
    if z.ndim < 2 or z.shape[0] == 0:
        raise ValueError(f"decode: z must be a batch of codes (N, *latent_shape) with N >= 1; got shape {z.shape}")
    if not jnp.issubdtype(z.dtype, jnp.floating):
        raise TypeError(f"decode: z must be floating; got {z.dtype}")
    return _batched("decode", model, "decode", z, batch_size)


def _two_images(fn: str, x0, x1) -> tuple[jax.Array, jax.Array]:
    """Two images of the same shape, as floats in [0, 1] if uint8."""
    x0, x1 = jnp.asarray(x0), jnp.asarray(x1)
    if x0.shape != x1.shape:
        raise ValueError(f"{fn}: x0 and x1 must be images of the same shape; got {x0.shape} and {x1.shape}")
    if x0.ndim != 3:
        raise ValueError(f"{fn}: x0 and x1 must be single images (H, W, C); got shape {x0.shape}")
    if x0.dtype != x1.dtype:
        raise TypeError(f"{fn}: x0 and x1 must have the same dtype; got {x0.dtype} and {x1.dtype}")
    if x0.dtype != jnp.uint8 and not jnp.issubdtype(x0.dtype, jnp.floating):
        raise TypeError(f"{fn}: images must be uint8 (0..255) or floating (0..1); got {x0.dtype}")
    return _scale(x0), _scale(x1)


def interpolate_pixels(x0, x1, steps: int) -> jax.Array:
    """Cross-fades two images pixel by pixel: ``(1 - t) x0 + t x1``, the baseline to latent interpolation.

    Args:
      x0: an image ``(H, W, C)``, uint8 (scaled to [0, 1]) or floating.
      x1: an image of the same shape and dtype.
      steps: number of images, at least 2; the first is ``x0`` and the last ``x1``.

    Returns:
      ``(steps, H, W, C)`` floats.
    """
    x0, x1 = _two_images("interpolate_pixels", x0, x1)
    return lerp(x0, x1, steps)


def interpolate_latent(
    model: nnx.Module, x0, x1, steps: int, *, method: Literal["linear", "spherical"] = "linear"
) -> jax.Array:
    """Interpolates two images through the latent space: encode both, walk between the codes, decode.

    The first and last images are the reconstructions ``decode(encode(x0))`` and
    ``decode(encode(x1))`` (not the images themselves); in between, every image is a decoded
    code, so a good latent space gives plausible digits all the way, where `interpolate_pixels`
    gives a double exposure.

    Args:
      model: an autoencoder.
      x0: an image ``(H, W, C)``, uint8 or floating.
      x1: an image of the same shape and dtype.
      steps: number of images, at least 2.
      method: ``"linear"`` (`lerp`) or ``"spherical"`` (`slerp`) between the codes.

    Returns:
      ``(steps, H, W, C)`` decoded images.
    """
    paths = {"linear": lerp, "spherical": slerp}
    if method not in paths:
        raise ValueError(f"interpolate_latent: method must be 'linear' or 'spherical'; got {method!r}")
    x0, x1 = _two_images("interpolate_latent", x0, x1)
    z = encode(model, jnp.stack([x0, x1]))
    return decode(model, paths[method](z[0], z[1], steps))


def latent_grid(model: nnx.Module, lo, hi, n: int, *, batch_size: int = 256) -> tuple[jax.Array, jax.Array]:
    """Decodes a regular ``n x n`` grid over a 2-D latent space: the "manifold" picture.

    Cell ``(i, j)`` decodes the point ``(u_j, v_{n-1-i})``, with ``u`` and ``v`` evenly spaced
    from ``lo`` to ``hi`` on the first and second coordinate: columns go right as the first
    coordinate grows and the **top row holds the highest second coordinate**, as on a scatter
    plot of the codes, so the grid can be laid over it.

    Args:
      model: an autoencoder whose codes are ``(N, 2)`` (e.g. `cnnlab.models.StridedAutoencoder`).
      lo: the lower corner: one number for both coordinates or a pair ``(u_lo, v_lo)``.
      hi: the upper corner, likewise; each coordinate above ``lo``'s.
      n: points per side, at least 2.
      batch_size: codes per compiled batch.

    Returns:
      ``(images, coords)``: ``(n, n, H, W, C)`` decoded images and ``(n, n, 2)`` their codes.

    Raises:
      ValueError: a bad corner or ``n``, or a model whose codes are not 2-D.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"latent_grid: n must be an int >= 2; got {n!r}")
    dim = getattr(model, "latent_dim", 2)
    if dim != 2:
        raise ValueError(f"latent_grid: needs a 2-D latent space; {type(model).__name__} has latent_dim={dim}")
    corners = []
    for name, v in (("lo", lo), ("hi", hi)):
        a = np.broadcast_to(np.asarray(v, np.float64), (2,)) if np.ndim(v) == 0 else np.asarray(v, np.float64)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise ValueError(f"latent_grid: {name} must be a finite number or a pair; got {v!r}")
        corners.append(a)
    lo_, hi_ = corners
    if np.any(hi_ <= lo_):
        raise ValueError(f"latent_grid: hi must exceed lo in both coordinates; got lo={tuple(lo_)}, hi={tuple(hi_)}")
    u = np.linspace(lo_[0], hi_[0], n)
    v = np.linspace(lo_[1], hi_[1], n)[::-1]  # top row: highest second coordinate
    coords = np.stack(np.meshgrid(u, v, indexing="xy"), axis=-1).astype(np.float32)  # (n, n, 2): [i, j] = (u_j, v_i)
    images = decode(model, jnp.asarray(coords.reshape(n * n, 2)), batch_size=batch_size)
    return images.reshape((n, n) + images.shape[1:]), jnp.asarray(coords)
