"""`evaluate` and `predict`: a model over every example once, in evaluation mode."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnlab import data as cdata
from cnnlab.train import core, objectives
from cnnlab.train.inputs import check_data, check_positive, read, to_device

__all__ = ["evaluate", "predict", "sums_over"]


def evaluate(model: nnx.Module, data, *, loss, metrics=None, batch_size: int = 256) -> dict[str, float]:
    """Loss and metrics over every example exactly once, in evaluation mode.

    Args:
      model: any NNX model mapping a batch of inputs to predictions.
      data: a `cnnlab.data.Dataset`, ``(inputs, targets)`` (uint8 arrays are scaled to
        [0, 1]), or a random-access source of ``{'image', 'label'}`` dicts read batch by
        batch (see `fit`).
      loss: a name from `objectives.LOSSES` or a callable ``(pred, target) -> (B,)``.
      metrics: names or ``{name: fn}``; default accuracy for softmax cross-entropy.
      batch_size: the evaluation batch; the last one is padded and masked.

    Returns:
      ``{"loss": ..., metric: ...}`` as Python floats (means over the examples).
    """
    d = read("evaluate", "data", data)
    check_positive("evaluate", "batch_size", batch_size)
    loss_name, loss_fn = objectives.resolve_loss(loss)
    fns = (("loss", loss_fn), *objectives.resolve_metrics(metrics, loss_name).items())
    model.eval()
    graph, *state = core.split(model)
    check_data("evaluate", graph, tuple(state), loss_name, [d])
    sums = sums_over(graph, fns, to_device(d), batch_size, tuple(state))
    return {k: float(v) / d.n for k, v in sums.items()}


def sums_over(graph, fns: tuple, data, batch_size: int, model_state) -> dict:
    """Per-name sums over every example of device-resident ``(x, y)`` or a streaming reader."""
    if isinstance(data, tuple):
        return core.jit_eval(graph, fns, batch_size, data, model_state)
    idx, mask = cdata.epoch_indices(None, data.n, batch_size=batch_size, remainder="pad")
    total = None
    for rows, m in zip(np.asarray(idx), np.asarray(mask)):
        x, y = data.batch(rows)
        sums = core.batch_sums(graph, fns, x, y, m, model_state)
        total = sums if total is None else jax.tree.map(jnp.add, total, sums)
    return total


def predict(model: nnx.Module, inputs, *, batch_size: int = 256) -> jax.Array:
    """The model's outputs for every input, in evaluation mode, batch by batch in one scan.

    Args:
      model: any NNX model.
      inputs: ``(N, ...)`` array (uint8 images are scaled to [0, 1]) or a Dataset (its images).
      batch_size: the batch; the last one is padded and its padding dropped.

    Returns:
      ``(N, ...)`` outputs: what ``model(x)`` returns (logits for the classifiers).
    """
    if isinstance(inputs, cdata.Dataset):
        inputs = inputs.images
    if not hasattr(inputs, "shape") or len(inputs.shape) == 0:
        raise TypeError(f"predict: inputs must be an array (N, ...); got {type(inputs).__name__}")
    check_positive("predict", "batch_size", batch_size)
    model.eval()
    graph, *state = core.split(model)
    return core.apply_batched(graph, tuple(state), jax.device_put(inputs), batch_size=batch_size)
