"""Losses and metrics by name, each computed per example so that padded batches mask out.

`cnnlab.ops` losses reduce to one mean over the batch. Training drops the last partial
batch, but evaluation pads it (so every example counts exactly once), and a masked mean
needs one value per example: ``per_example(op)`` applies an op to each example alone
(``vmap`` over a batch of one). For mse, mae and binary cross-entropy the mean of those
values equals the op's mean over the whole batch, because every example has as many
elements.

`Objective` adds Keras's L2 kernel regulariser to a loss: ``Objective("mse", l2=0.04,
l2_layers=("encoder.0",))`` is seed 001's ``kernel_regularizer=tf.keras.regularizers.l2(0.04)``
on the first encoder convolution. It is a term of the loss (its gradient ``2 * 0.04 * kernel``
flows through the optimizer like the data loss's), not an optimizer's weight decay.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from cnnlab import nn, ops

__all__ = [
    "LOSSES",
    "METRICS",
    "Objective",
    "accuracy",
    "per_example",
    "resolve_loss",
    "resolve_metrics",
    "resolve_penalty",
]

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


@dataclasses.dataclass(frozen=True)
class Objective:
    """A loss plus an L2 penalty on the kernels of named layers, as Keras's ``kernel_regularizer``.

    The training loss of a batch becomes ``loss + l2 * sum(kernel ** 2)``, summed over the
    kernels of ``l2_layers`` (their biases are not penalised), which is what Keras adds to
    the loss for each layer built with ``kernel_regularizer=keras.regularizers.l2(l2)``, and
    what its training loss reports. `fit`'s training ``loss`` includes the penalty; its
    metrics, ``val_loss`` and `evaluate` are the data loss alone (Keras's validation loss
    adds the penalty too).

    Attributes:
      loss: a loss name (`LOSSES`) or a callable ``(pred, target) -> (B,)``.
      l2: the factor (Keras's ``l2``); 0 adds nothing.
      l2_layers: paths of the penalised layers, as `cnnlab.nn.named_layers` prints them
        (``"encoder.0"``); each must have a ``kernel``.
    """

    loss: str | Callable
    l2: float = 0.0
    l2_layers: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.l2, int | float) or not self.l2 >= 0 or self.l2 == float("inf"):
            raise ValueError(f"Objective: l2 must be a finite number >= 0, got {self.l2!r}")
        if isinstance(self.l2_layers, str) or not all(isinstance(p, str) for p in self.l2_layers):
            raise TypeError(f"Objective: l2_layers must be a tuple of layer paths, got {self.l2_layers!r}")
        if self.l2 > 0 and not self.l2_layers:
            raise ValueError(f"Objective: l2={self.l2} names no layer; give l2_layers (paths like 'encoder.0')")

    def penalty(self, model) -> jax.Array:
        """``l2 * sum(kernel ** 2)`` over the kernels of ``l2_layers`` of ``model``, float32."""
        layers = dict(nn.named_layers(model))
        total = sum(jnp.sum(jnp.square(layers[p].kernel[...].astype(jnp.float32))) for p in self.l2_layers)
        return jnp.float32(self.l2) * total

    def check(self, fn: str, model) -> None:
        """Every path in ``l2_layers`` names a layer of ``model`` with a kernel, or ValueError."""
        layers = dict(nn.named_layers(model))
        for p in self.l2_layers:
            if not hasattr(layers.get(p), "kernel"):
                with_kernels = [q for q, m in layers.items() if hasattr(m, "kernel")]
                raise ValueError(
                    f"{fn}: Objective.l2_layers names {p!r}, which is not a layer with a kernel in "
                    f"{type(model).__name__}; layers with kernels: {with_kernels}"
                )

    def describe(self) -> str:
        """``"l2(0.04) on encoder.0"``: for a run's recorded configuration."""
        return f"l2({self.l2:g}) on {', '.join(self.l2_layers)}" if self.l2 > 0 else "none"


def resolve_penalty(fn: str, loss, model) -> Callable | None:
    """``model -> scalar`` penalty of an `Objective` with ``l2 > 0`` (checked against ``model``), else None."""
    if not isinstance(loss, Objective) or loss.l2 == 0:
        return None
    loss.check(fn, model)
    return loss.penalty


def resolve_loss(loss) -> tuple[str, PerExample]:
    """``(name, per-example fn)`` for a loss name, a callable ``(pred, target) -> (B,)``, or an
    `Objective` (its data loss: `resolve_penalty` gives the penalty)."""
    if isinstance(loss, Objective):
        return resolve_loss(loss.loss)
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"fit: unknown loss {loss!r}; known: {sorted(LOSSES)} or a callable")
        return loss, LOSSES[loss]
    if callable(loss):
        return getattr(loss, "__name__", "custom"), loss
    raise TypeError(
        f"fit: loss must be a name, a callable (pred, target) -> (B,) or an Objective; got {type(loss).__name__}"
    )


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
