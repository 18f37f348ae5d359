"""Losses and metrics by name, each computed per example so that padded batches mask out.

`cnnlab.ops` losses reduce to one mean over the batch. Training drops the last partial
batch, but evaluation pads it (so every example counts exactly once), and a masked mean
needs one value per example: ``per_example(op)`` applies an op to each example alone
(``vmap`` over a batch of one). For mse, mae and binary cross-entropy the mean of those
values equals the op's mean over the whole batch, because every example has as many
elements.
"""

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from cnnlab import ops

__all__ = ["LOSSES", "METRICS", "accuracy", "per_example", "resolve_loss", "resolve_metrics"]

PerExample = Callable[[jax.Array, jax.Array], jax.Array]


def per_example(op: Callable) -> PerExample:
    """``op(pred, target) -> scalar`` as ``(pred (B, ...), target (B, ...)) -> (B,)``."""

    def fn(pred, target):
        return jax.vmap(lambda p, t: op(p[None], t[None]))(pred, target)

    fn.__name__ = getattr(op, "__name__", "loss")
    return fn


def accuracy(logits, labels):
    """Per example, the share of positions where ``argmax(logits) == labels``, float32 ``(B,)``.

    ``(B, K), (B,)``: 1.0 or 0.0 per example (classification). ``(B, ..., K), (B, ...)``:
    the mean over the positions of each example, e.g. pixel accuracy for segmentation
    logits ``(B, H, W, K)`` and masks ``(B, H, W)``.
    """
    if logits.ndim < 2 or labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"accuracy: needs logits (B, ..., K) and integer labels (B, ...) of the logits' shape without K; "
            f"got logits {tuple(logits.shape)}, labels {tuple(labels.shape)} {labels.dtype}"
        )
    hit = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
    return hit.reshape(hit.shape[0], -1).mean(axis=1)


def _bce_logits(pred, target):
    return ops.binary_crossentropy(pred, target, from_logits=True)


#: Loss names: classification (integer labels) and reconstruction (targets of the
#: prediction's shape). ``binary_crossentropy`` takes probabilities (a sigmoid output).
LOSSES: dict[str, PerExample] = {
    "softmax_cross_entropy": per_example(ops.softmax_cross_entropy),
    "mse": per_example(ops.mse),
    "mae": per_example(ops.mae),
    "binary_crossentropy": per_example(ops.binary_crossentropy),
    "binary_crossentropy_logits": per_example(_bce_logits),
}

#: Metric names: `accuracy` and every loss.
METRICS: dict[str, PerExample] = {"accuracy": accuracy, **LOSSES}

#: Losses whose targets are integer class labels (the others take float targets).
CLASSIFICATION = ("softmax_cross_entropy",)


def resolve_loss(loss) -> tuple[str, PerExample]:
    """``(name, per-example fn)`` for a loss name or a callable ``(pred, target) -> (B,)``."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"fit: unknown loss {loss!r}; known: {sorted(LOSSES)} or a callable")
        return loss, LOSSES[loss]
    if callable(loss):
        return getattr(loss, "__name__", "custom"), loss
    raise TypeError(f"fit: loss must be a name or a callable (pred, target) -> (B,); got {type(loss).__name__}")


def resolve_metrics(metrics, loss_name: str) -> dict[str, PerExample]:
    """Metric names (or a ``{name: fn}`` mapping) as ``{name: per-example fn}``.

    ``None`` means ``("accuracy",)`` for softmax cross-entropy and nothing otherwise.
    """
    if metrics is None:
        metrics = ("accuracy",) if loss_name in CLASSIFICATION else ()
    if isinstance(metrics, Mapping):
        out = dict(metrics)
    elif isinstance(metrics, Sequence) and not isinstance(metrics, str):
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"fit: unknown metric(s) {unknown}; known: {sorted(METRICS)}")
        out = {m: METRICS[m] for m in metrics}
    else:
        raise TypeError(f"fit: metrics must be a sequence of names or a {{name: fn}} dict; got {metrics!r}")
    for name in out:
        if name == "loss" or name.startswith("val_"):
            raise ValueError(f"fit: metric name {name!r} is reserved; 'loss' and 'val_*' name the loss")
    return out
