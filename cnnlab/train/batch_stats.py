"""`recompute_batch_stats`: batch normalization's moving statistics, replaced by exact population ones.

Training keeps each `BatchNorm`'s ``mean`` and ``var`` as exponential moving averages of the
batch statistics (momentum 0.99, as in Keras). They trail the weights: after a short run, or
while the weights still move fast, evaluation mode normalizes with statistics of weights
that no longer exist, and its outputs drift from training mode's. The remedy of Wu & Johnson
("Rethinking 'Batch' in BatchNorm", 2021, "precise BN") is to freeze the weights and measure
the statistics again: run the model in training mode over the data, batch by batch, and
average what every `BatchNorm` sees, with equal weight for every example.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnlab import data as cdata
from cnnlab.nn import BatchNorm
from cnnlab.train.core import reseed, scale, split
from cnnlab.train.inputs import check_positive

__all__ = ["recompute_batch_stats"]


def _batch_norms(model) -> list:
    return [m for _, m in nnx.iter_graph(model) if isinstance(m, BatchNorm)]


@functools.partial(jax.jit, static_argnums=0)
def _batch_moments(graphdef, params, keys, rest, x, key):
    """Training-mode forward of one batch; each BatchNorm's (batch mean, biased batch var)."""
    model = nnx.merge(graphdef, params, reseed(keys, key), rest, copy=True)
    model(scale(x))
    return [(bn.mean[...], bn.var[...]) for bn in _batch_norms(model)]


def recompute_batch_stats(model: nnx.Module, inputs, *, batch_size: int = 32, seed: int = 0) -> nnx.Module:
    """Sets every `cnnlab.nn.BatchNorm` in ``model`` to the exact statistics of its inputs over ``inputs``.

    The model runs in training mode (each `BatchNorm` normalizes with its batch's statistics,
    as during training) over a seeded shuffle of ``inputs`` cut into batches of
    ``batch_size``; the last partial batch is dropped when at least one full batch exists, as
    `fit` drops it. For every `BatchNorm`, the new ``mean`` is the mean of its input over all
    those examples and positions and the new ``var`` their (biased) variance, pooled exactly
    from the batch moments: ``var = mean_b(var_b + (mean_b - mean)^2)`` weighted by batch size,
    in float64. Parameters are not touched; every `BatchNorm`'s momentum is as before. Use it
    after `fit` when evaluation-mode outputs lag training-mode ones (short runs, momentum
    0.99, a learning rate that was still large at the end), and use the batch size of training
    so that deeper layers see batches composed as they were.

    Args:
      model: an NNX model holding at least one `cnnlab.nn.BatchNorm`. Updated in place and
        left in evaluation mode.
      inputs: ``(N, ...)`` model inputs (uint8 images are scaled to [0, 1], as `fit` does) or
        a `cnnlab.data.Dataset` (its images).
      batch_size: examples per batch; at most N.
      seed: the shuffle (and the dropout masks, if the model has dropout).

    Returns:
      ``model``.

    Raises:
      ValueError: ``model`` has no `BatchNorm`; ``batch_size`` not in ``[1, N]``.
      TypeError: ``inputs`` is not an array or Dataset.

    Example:
      >>> train.fit(model, ds, loss="softmax_cross_entropy", optimizer="adam", epochs=2,  # doctest: +SKIP
      ...           batch_size=32)
      >>> train.recompute_batch_stats(model, ds.images, batch_size=32)  # doctest: +SKIP
    """
    if isinstance(inputs, cdata.Dataset):
        inputs = inputs.images
    if not hasattr(inputs, "shape") or not hasattr(inputs, "dtype") or len(inputs.shape) == 0:
        raise TypeError(
            f"recompute_batch_stats: inputs must be an array (N, ...) or a Dataset; got {type(inputs).__name__}"
        )
    norms = _batch_norms(model)
    if not norms:
        raise ValueError(
            f"recompute_batch_stats: {type(model).__name__} holds no cnnlab.nn.BatchNorm; nothing to recompute"
        )
    n = int(inputs.shape[0])
    check_positive("recompute_batch_stats", "batch_size", batch_size)
    if batch_size > n:
        raise ValueError(f"recompute_batch_stats: batch_size {batch_size} is larger than the {n} inputs")
    idx, _ = cdata.epoch_indices(jax.random.key(seed), n, batch_size=batch_size, remainder="drop")
    idx = np.asarray(idx)
    momenta = [bn.momentum for bn in norms]
    try:
        for bn in norms:
            bn.momentum = 0.0  # the forward then stores the batch's own moments
        model.train()
        graphdef, params, keys, rest = split(model)
        x = jax.device_put(inputs)
        base = jax.random.key(seed)
        moments = []
        for b, rows in enumerate(idx):
            out = _batch_moments(graphdef, params, keys, rest, x[jnp.asarray(rows)], jax.random.fold_in(base, b))
            moments.append(jax.device_get(out))
    finally:
        for bn, m in zip(norms, momenta, strict=True):
            bn.momentum = m
        model.eval()
    for j, bn in enumerate(norms):  # equal batches: plain averages are the size-weighted ones
        means = np.stack([np.asarray(m[j][0], np.float64) for m in moments])
        variances = np.stack([np.asarray(m[j][1], np.float64) for m in moments])
        mean = means.mean(0)
        var = (variances + (means - mean) ** 2).mean(0)
        bn.mean[...] = jnp.asarray(mean, bn.mean[...].dtype)
        bn.var[...] = jnp.asarray(var, bn.var[...].dtype)
    return model
