"""Losses, each reduced to the mean over every element (or every example)."""

import jax.numpy as jnp

from cnnlab.ops._util import check_float
from cnnlab.ops.activations import log_softmax

__all__ = ["binary_crossentropy", "mse", "mae", "softmax_cross_entropy"]

#: Keras's `backend.epsilon()`: predictions are clipped to [EPS, 1 - EPS] before the log.
EPS = 1e-7


def _pair(op, pred, target):
    """Check that `pred` and `target` are floats of one shape and dtype: nothing is broadcast."""
    for name, a in (("pred", pred), ("target", target)):
        if not hasattr(a, "shape"):
            raise TypeError(f"{op}: {name} must be an array, got {type(a).__name__}")
        check_float(op, name, a)
    if pred.shape != target.shape:
        raise ValueError(
            f"{op}: pred and target must have the same shape, got pred {tuple(pred.shape)} and "
            f"target {tuple(target.shape)}; nothing is broadcast"
        )
    if pred.dtype != target.dtype:
        raise TypeError(f"{op}: pred is {pred.dtype} but target is {target.dtype}; cast one explicitly")
    if pred.size == 0:
        raise ValueError(f"{op}: pred and target of shape {tuple(pred.shape)} are empty; a mean over nothing is NaN")


def binary_crossentropy(pred, target, *, from_logits=False):
    """Mean binary cross-entropy `-(t log p + (1 - t) log(1 - p))`.

    Args:
      pred: probabilities in [0, 1] (clipped to [1e-7, 1 - 1e-7], as Keras does), or
        logits when `from_logits=True` (then computed stably as
        `max(z, 0) - z t + log(1 + exp(-|z|))`).
      target: same shape and dtype, values in [0, 1] (soft targets allowed, e.g. images).
      from_logits: bool.

    Returns:
      Scalar mean over every element.
    """
    _pair("binary_crossentropy", pred, target)
    if from_logits:
        z = pred
        loss = jnp.maximum(z, 0) - z * target + jnp.log1p(jnp.exp(-jnp.abs(z)))
    else:
        p = jnp.clip(pred, EPS, 1 - EPS)
        loss = -(target * jnp.log(p) + (1 - target) * jnp.log(1 - p))
    return jnp.mean(loss)


def mse(pred, target):
    """Mean squared error over every element; `pred`, `target` of one shape."""
    _pair("mse", pred, target)
    return jnp.mean(jnp.square(pred - target))


def mae(pred, target):
    """Mean absolute error over every element; `pred`, `target` of one shape."""
    _pair("mae", pred, target)
    return jnp.mean(jnp.abs(pred - target))


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy with integer class labels.

    Args:
      logits: `(N, K)` (or `(..., K)`) unnormalised scores.
      labels: `(N,)` (or `(...)`) integer class ids in `[0, K)`.

    Returns:
      Scalar `mean(logsumexp(logits) - logits[label])`.
    """
    op = "softmax_cross_entropy"
    if not hasattr(logits, "shape") or not hasattr(labels, "shape"):
        raise TypeError(f"{op}: logits and labels must be arrays")
    check_float(op, "logits", logits)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{op}: labels must be integer class ids, got dtype {labels.dtype}; "
            f"for one-hot targets use labels.argmax(-1)"
        )
    if logits.ndim < 1 or labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"{op}: labels must have shape logits.shape[:-1]; got logits {tuple(logits.shape)}, "
            f"labels {tuple(labels.shape)}"
        )
    if logits.shape[-1] == 0:
        raise ValueError(f"{op}: logits of shape {tuple(logits.shape)} have K=0 classes; needs at least 1 class")
    if logits.size == 0:
        raise ValueError(f"{op}: logits of shape {tuple(logits.shape)} are empty; a mean over no examples is NaN")
    logp = log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(logp, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return -jnp.mean(picked)
