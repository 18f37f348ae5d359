"""Device-resident batching: an epoch is a permutation cut into fixed-size batches.

The data goes to the device once (`to_device`). An epoch is then only an index array
``(num_batches, batch_size)`` and a mask of the same shape (`epoch_indices`): a jitted
``lax.scan`` over those rows gathers each batch on the device, and `iterate_batches` walks
the same rows from Python. With ``remainder="pad"`` the last batch is filled with index 0
and masked out, so a masked sum over an epoch counts every example exactly once.

Example, a whole epoch in one compiled loop::

    images, labels = to_device(ds)
    idx, mask = epoch_indices(key, len(ds), batch_size=128, remainder="pad")

    def step(total, batch):
        i, m = batch
        x = to_float(images[i])                      # (128, 28, 28, 1)
        return total + jnp.sum(m * loss(x, labels[i])), None

    total, _ = jax.lax.scan(step, 0.0, (idx, mask))
"""

import numbers
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.data.dataset import Dataset

REMAINDERS = ("drop", "pad")


def _check(fn: str, num_examples, batch_size, remainder) -> None:
    if not isinstance(num_examples, numbers.Integral) or num_examples < 0:
        raise ValueError(f"{fn}: num_examples must be a non-negative int; got {num_examples!r}")
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"{fn}: batch_size must be a positive int; got {batch_size!r}")
    if remainder not in REMAINDERS:
        raise ValueError(f"{fn}: remainder must be one of {list(REMAINDERS)}; got {remainder!r}")


def num_batches(num_examples: int, *, batch_size: int, remainder: str = "drop") -> int:
    """How many batches one epoch has.

    Args:
      num_examples: N.
      batch_size: B.
      remainder: ``"drop"`` (``N // B``: the last partial batch is left out) or ``"pad"``
        (``ceil(N / B)``: it is padded and masked).

    Returns:
      The number of batches.
    """
    _check("num_batches", num_examples, batch_size, remainder)
    if remainder == "drop":
        return num_examples // batch_size
    return -(-num_examples // batch_size)


def epoch_indices(
    key,
    num_examples: int,
    *,
    batch_size: int,
    remainder: str = "drop",
) -> tuple[jax.Array, jax.Array]:
    """The example indices of one epoch, cut into batches.

    Works eagerly and under ``jax.jit`` (``num_examples``, ``batch_size`` and ``remainder``
    static); a different key per epoch (``jax.random.fold_in(key, epoch)``) reshuffles.

    Args:
      key: a ``jax.random`` key to shuffle with, or None for the order 0, 1, ..., N-1
        (evaluation).
      num_examples: N.
      batch_size: B.
      remainder: ``"drop"`` leaves out the last ``N % B`` examples of the permutation;
        ``"pad"`` fills the last batch with index 0 and masks those slots out.

    Returns:
      ``(indices, mask)``: int32 ``(num_batches, B)`` and bool ``(num_batches, B)``. Every
      index in ``[0, N)`` appears exactly once among the unmasked slots with ``"pad"``,
      at most once with ``"drop"``.
    """
    _check("epoch_indices", num_examples, batch_size, remainder)
    n_batches = num_batches(num_examples, batch_size=batch_size, remainder=remainder)
    if key is None:
        order = jnp.arange(num_examples, dtype=jnp.int32)
    else:
        order = jax.random.permutation(key, num_examples).astype(jnp.int32)
    slots = n_batches * batch_size
    if slots <= num_examples:
        indices = order[:slots]
        mask = jnp.ones((slots,), jnp.bool_)
    else:
        pad = slots - num_examples
        indices = jnp.concatenate([order, jnp.zeros((pad,), jnp.int32)])
        mask = jnp.concatenate([jnp.ones((num_examples,), jnp.bool_), jnp.zeros((pad,), jnp.bool_)])
    return indices.reshape(n_batches, batch_size), mask.reshape(n_batches, batch_size)


def take(tree, indices):
    """Gathers the rows ``indices`` from every array of a pytree.

    Args:
      tree: a pytree of arrays that share their leading dimension N.
      indices: integer, any shape S, values in ``[0, N)``.

    Returns:
      The same pytree, each leaf ``(N, ...)`` becoming ``S + (...)``.
    """
    return jax.tree.map(lambda a: a[indices], tree)


def _leading(fn: str, tree) -> int:
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError(f"{fn}: arrays is an empty pytree")
    sizes = {tuple(jnp.shape(a))[:1] for a in leaves}
    if len(sizes) != 1 or () in sizes:
        raise ValueError(
            f"{fn}: every array needs the same leading dimension N; got shapes {[tuple(jnp.shape(a)) for a in leaves]}"
        )
    return sizes.pop()[0]


def iterate_batches(arrays, *, batch_size: int, key=None, remainder: str = "drop") -> Iterator:
    """Walks one epoch from Python, batch by batch.

    Args:
      arrays: a pytree of arrays sharing the leading dimension N, e.g. ``(images, labels)``
        from `to_device`.
      batch_size: B.
      key: a ``jax.random`` key to shuffle with, or None for the stored order.
      remainder: ``"drop"`` or ``"pad"``, as in `epoch_indices`.

    Yields:
      ``(batch, mask)``: the pytree with each leaf ``(B, ...)``, and bool ``(B,)``.
    """
    n = _leading("iterate_batches", arrays)
    indices, mask = epoch_indices(key, n, batch_size=batch_size, remainder=remainder)
    for i in range(indices.shape[0]):
        yield take(arrays, indices[i]), mask[i]


def to_device(ds: Dataset, device=None) -> tuple[jax.Array, jax.Array]:
    """Puts a dataset on the device once, as it is stored.

    Images stay uint8 (a quarter of float32's memory); scale each batch with `to_float`
    inside the compiled step.

    Args:
      ds: the dataset.
      device: a ``jax.Device`` or sharding; default: JAX's default device.

    Returns:
      ``(images, labels)``: uint8 ``(N, H, W, C)`` and int32 ``(N,)`` device arrays.
    """
    if not isinstance(ds, Dataset):
        raise TypeError(f"to_device: ds must be a cnnlab.data.Dataset; got {type(ds).__name__}")
    return jax.device_put(np.asarray(ds.images), device), jax.device_put(np.asarray(ds.labels), device)
