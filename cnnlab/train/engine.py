"""`fit`, `evaluate` and `predict` for any Flax NNX model.

The data goes to the device once. An epoch is then one compiled ``lax.scan`` over the
rows of `cnnlab.data.epoch_indices`, carrying the parameters, the optimizer state, the
other model state (batch statistics, RNG counts) and a "no non-finite loss yet" flag:
one dispatch per epoch. ``per_step=True`` runs the same step function as a Python loop
of jitted steps (for debugging, or to watch every step) and gives the same numbers.

The model is split once (``nnx.split(model, nnx.Param, nnx.RngKey, ...)``) into a graph
and arrays; each step merges them back (``nnx.merge``), calls the model and splits the
new state off, which XLA compiles away. ``model.train()`` / ``model.eval()`` give two
graphs, so Dropout and BatchNorm behave as their mode says.

Randomness: ``seed`` gives a base key. Epoch ``e`` shuffles with
``fold_in(fold_in(key, 0), e)``; global step ``s`` draws its keys from
``fold_in(fold_in(key, 1), s)``: the model's RNG streams (Dropout) are reseeded with
them, and ``augment`` gets one. A run is therefore a function of the seed and the step
alone, which is what lets ``resume=True`` continue bit for bit.
"""

import dataclasses
import functools
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from cnnlab import data as cdata
from cnnlab.train import objectives
from cnnlab.train import guards
from cnnlab.train.checkpoint import Checkpointer, CheckpointError
from cnnlab.train.guards import DivergenceError, NonFiniteLossError
from cnnlab.train.history import History
from cnnlab.train.optimizers import resolve as resolve_optimizer
from cnnlab.train.state import TrainState

__all__ = ["DivergenceError", "NonFiniteLossError", "evaluate", "fit", "predict"]

# Config keys that must agree between a checkpoint and the run resuming from it.
_RESUME_KEYS = ("loss", "optimizer", "optimizer_fingerprint", "batch_size", "seed", "num_examples", "metrics",
                "model", "compute_dtype")


def _arrays(fn: str, name: str, data) -> tuple:
    """``(inputs, targets)`` from a Dataset or a pair of arrays, checked to pair up."""
    if isinstance(data, cdata.Dataset):
        return data.images, data.labels
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise TypeError(
            f"{fn}: {name} must be a cnnlab.data.Dataset or a pair (inputs, targets) of arrays; "
            f"got {type(data).__name__}{'' if not isinstance(data, tuple | list) else f' of length {len(data)}'}"
        )
    x, y = data
    for a, what in ((x, "inputs"), (y, "targets")):
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            raise TypeError(f"{fn}: {name} {what} must be an array; got {type(a).__name__}")
    if x.shape[:1] != y.shape[:1] or x.ndim == 0:
        raise ValueError(
            f"{fn}: {name} inputs and targets must share their leading dimension N; got "
            f"inputs {tuple(x.shape)}, targets {tuple(y.shape)}"
        )
    return x, y


class _Stream:
    """A random-access source read batch by batch on the host: the streaming path.

    ``source[i]`` is a dict with ``'image'`` (uint8 ``(H, W, C)``) and ``'label'`` (an int):
    a ``tfds.data_source`` (`cnnlab.data.open_source`), a grain ``MapDataset``, or a list
    of dicts. Nothing is held on the device but the current batch.
    """

    def __init__(self, source, fn: str, name: str, first: Mapping):
        self.source = source
        self.n = len(source)
        if not isinstance(first, Mapping) or "image" not in first or "label" not in first:
            raise TypeError(
                f"{fn}: {name} is a source whose records must be dicts with 'image' and 'label'; "
                f"record 0 is {type(first).__name__}"
                + (f" with keys {sorted(first)}" if isinstance(first, Mapping) else "")
            )
        self.image_shape = np.asarray(first["image"]).shape
        self.name, self.fn = name, fn
        self.num_classes = None  # set by fit for classification losses: labels checked against it

    def batch(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images ``(B, H, W, C)`` and int32 labels ``(B,)`` of records ``rows``."""
        rows = [int(i) for i in rows]
        # Looked up on the type, as Python looks up every special method.
        getitems = getattr(type(self.source), "__getitems__", None)
        records = getitems(self.source, rows) if getitems is not None else [self.source[i] for i in rows]
        images = [np.asarray(r["image"]) for r in records]
        for i, im in zip(rows, images):
            if im.shape != self.image_shape:
                raise ValueError(
                    f"{self.fn}: {self.name} records must all hold images of shape {self.image_shape}; "
                    f"record {i} holds {im.shape}"
                )
        images, labels = np.stack(images), np.asarray([r["label"] for r in records])
        try:
            guards.check_finite(self.fn, f"{self.name} images", images)
            if self.num_classes is not None:
                guards.check_labels(self.fn, f"{self.name} labels", labels, self.num_classes)
            elif not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"{self.fn}: {self.name} labels must be integers; got dtype {labels.dtype}")
        except ValueError as e:  # name the record, not the row of this batch
            raise ValueError(f"{e} [records {rows[0]}..{rows[-1]} of the source, read in this batch]") from None
        return images, labels.astype(np.int32)


def _as_stream(fn: str, name: str, data):
    """A `_Stream` when ``data`` is a random-access source of dicts, else None."""
    if isinstance(data, cdata.Dataset) or hasattr(data, "shape"):
        return None
    if isinstance(data, tuple | list) and len(data) == 2 and all(hasattr(a, "shape") for a in data):
        return None  # (inputs, targets)
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and len(data):
        first = data[0]
        if isinstance(first, Mapping):
            return _Stream(data, fn, name, first)
    return None


def _to_device(x, y, sharding=None):
    """One device copy each; a target that is the input (autoencoders) is not copied twice."""
    xd = jax.device_put(x, sharding)
    yd = xd if y is x else jax.device_put(y, sharding)
    return xd, yd


def _replicate(tree, sharding):
    """``tree`` placed on every device of ``sharding`` (fully replicated).

    With several processes (``jax.distributed``), the mesh holds devices this process
    cannot address, which ``device_put`` refuses for arrays already on a device. Every
    process computed the same values (same seed, same checkpoint), so each contributes
    copies on its own devices and the global array is assembled from them.
    """
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)

    def one(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:  # e.g. restored by orbax
            if a.sharding.is_equivalent_to(sharding, a.ndim):
                return a
            a = a.addressable_data(0)  # a whole copy: fit only ever stores replicated state
        local = [jax.device_put(a, d) for d in sharding.addressable_devices_indices_map(a.shape)]
        return jax.make_array_from_single_device_arrays(a.shape, sharding, local)

    return jax.tree.map(one, tree)


def _scale(a):
    """uint8 images -> floats in [0, 1]; everything else as is."""
    return cdata.to_float(a) if a.dtype == jnp.uint8 else a


def _split(model):
    return nnx.split(model, nnx.Param, nnx.RngKey, ...)


def _reseed(keys, key):
    """Every RNG stream key of the model, replaced by ``fold_in(key, i)``."""
    leaves, treedef = jax.tree.flatten(keys)
    return jax.tree.unflatten(treedef, [jax.random.fold_in(key, i) for i in range(len(leaves))])


def _cast(tree, dtype):
    """Floating leaves of ``tree`` cast to ``dtype``; others unchanged."""
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _select(ok, new, old):
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def _eval_sums(graphdef, fns, data, n, batch_size, params, keys, rest):
    """Masked per-name sums over every example once (padded last batch), in one scan."""
    idx, mask = cdata.epoch_indices(None, n, batch_size=batch_size, remainder="pad")
    model = nnx.merge(graphdef, params, keys, rest, copy=True)

    def body(_, batch):
        i, m = batch
        x, y = cdata.take(data, i)
        pred = model(_scale(x))
        y = _scale(y)
        return None, {k: jnp.sum(jnp.where(m, f(pred, y), 0)) for k, f in fns.items()}

    _, sums = jax.lax.scan(body, None, (idx, mask))
    return {k: jnp.sum(v) for k, v in sums.items()}


def _check_batch(fn, batch_size, n, what):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{fn}: {what} must be a positive int; got {batch_size!r}")


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
    stream = _as_stream("evaluate", "data", data)
    x, y = (None, None) if stream is not None else _arrays("evaluate", "data", data)
    _check_batch("evaluate", batch_size, 0, "batch_size")
    loss_name, loss_fn = objectives.resolve_loss(loss)
    fns = {"loss": loss_fn, **objectives.resolve_metrics(metrics, loss_name)}
    model.eval()
    graphdef, params, keys, rest = _split(model)
    classes = _check_data("evaluate", graphdef, (params, keys, rest), loss_name, (("data", x, y, stream),))
    if stream is not None:
        stream.num_classes = classes
        sums = _stream_eval(graphdef, tuple(fns.items()), stream, batch_size, params, keys, rest)
        return {k: float(v) / stream.n for k, v in sums.items()}
    n = int(x.shape[0])
    sums = _jit_eval(graphdef, tuple(fns.items()), n, batch_size, _to_device(x, y), params, keys, rest)
    return {k: float(v) / n for k, v in sums.items()}


def predict(model: nnx.Module, inputs, *, batch_size: int = 256) -> jax.Array:
    """The model's outputs for every input, in evaluation mode, batch by batch in one scan.

    Args:
      model: any NNX model.
      inputs: ``(N, ...)`` array (uint8 images are scaled to [0, 1]) or a Dataset (its images).
      batch_size: the batch; the last one is padded and its padding dropped.

    Returns:
      ``(N, ...)`` outputs (logits for the classifiers).
    """
    if isinstance(inputs, cdata.Dataset):
        inputs = inputs.images
    if not hasattr(inputs, "shape") or len(inputs.shape) == 0:
        raise TypeError(f"predict: inputs must be an array (N, ...); got {type(inputs).__name__}")
    _check_batch("predict", batch_size, len(inputs), "batch_size")
    model.eval()
    graphdef, params, keys, rest = _split(model)
    return _jit_predict(graphdef, int(inputs.shape[0]), batch_size, jax.device_put(inputs), params, keys, rest)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _jit_predict(graphdef, n, batch_size, x, params, keys, rest):
    """`predict`'s program, compiled once per model structure, size and batch."""
    idx, _ = cdata.epoch_indices(None, n, batch_size=batch_size, remainder="pad")
    m = nnx.merge(graphdef, params, keys, rest, copy=True)
    out = jax.lax.map(lambda i: m(_scale(x[i])), idx)
    return out.reshape((-1,) + out.shape[2:])[:n]


def _jsonable(v):
    if isinstance(v, Mapping):
        return {str(k): _jsonable(u) for k, u in v.items()}
    if isinstance(v, tuple | list):
        return [_jsonable(u) for u in v]
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return getattr(v, "__name__", type(v).__name__)  # a schedule or a custom function


def fit(
    model: nnx.Module,
    train_data,
    *,
    loss: str | Callable,
    optimizer,
    epochs: int,
    batch_size: int,
    val_data=None,
    metrics=None,
    seed: int = 0,
    augment: Callable | None = None,
    per_step: bool = False,
    eval_batch_size: int = 256,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    keep: int = 3,
    best_metric: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    verbose: bool = True,
    on_epoch: Callable[[dict], bool | None] | None = None,
    devices=None,
    compute_dtype=None,
    divergence_factor: float | None = 100.0,
) -> History:
    """Trains ``model`` in place and returns its `History`.

    Args:
      model: any Flax NNX model; its ``nnx.Param`` variables are trained, its other state
        (``nnx.BatchStat``, RNG counts) carried. Left in evaluation mode.
      train_data: a `cnnlab.data.Dataset` (images, labels) or ``(inputs, targets)``
        arrays: ``(images, labels)`` to classify, ``(x, x)`` or ``(noisy, clean)`` to
        reconstruct. uint8 arrays are scaled to [0, 1] on the device, per batch. Or, for
        data too large for the device, a random-access source of ``{'image', 'label'}``
        dicts (`cnnlab.data.open_source`, a grain ``MapDataset``, a list): it is read on
        the host batch by batch (the next batch while the device trains on this one) and
        trained per step, in the same order and with the same numbers as the resident path.
      loss: ``"softmax_cross_entropy"``, ``"mse"``, ``"mae"``, ``"binary_crossentropy"``,
        ``"binary_crossentropy_logits"``, or a callable ``(pred, target) -> (B,)``.
      optimizer: a name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adadelta"``), a config
        dict such as ``{"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}`` (see
        `make_optimizer`), or any optax ``GradientTransformation``.
      epochs: total number of epochs (with ``resume``, counting those already done).
      batch_size: training batch; the last partial batch of each epoch is dropped
        (a padded batch would skew BatchNorm's statistics).
      val_data: like ``train_data`` (a source too); evaluated after each epoch, every
        example once.
      metrics: names (``"accuracy"`` or any loss) or ``{name: fn}``; default
        ``("accuracy",)`` for softmax cross-entropy, else none.
      seed: determines the shuffling, the dropout masks and ``augment``'s keys.
      augment: optional ``(key, inputs) -> inputs`` applied to each training batch after
        scaling, e.g. ``lambda k, x: data.salt_and_pepper(k, x)`` for a denoiser.
      per_step: a Python loop of jitted steps instead of one scan per epoch.
      eval_batch_size: the batch for ``val_data``.
      checkpoint_dir: if set, checkpoints go here every ``checkpoint_every`` epochs and
        after the last one.
      checkpoint_every: epochs between checkpoints.
      keep: how many of the latest checkpoints to keep.
      best_metric: also keep the best checkpoint by this history key (``"val_loss"``,
        ``"val_accuracy"``: max for accuracy names, min otherwise).
      resume: continue from the latest intact checkpoint in ``checkpoint_dir`` (from
        scratch if there is none; a corrupted one is skipped with a warning); the result
        equals an uninterrupted run's. The checkpoint must come from the same setup
        (loss, optimizer and its hyperparameters, batch size, seed, data size, model).
      overwrite: when ``checkpoint_dir`` already holds checkpoints and ``resume`` is
        False, delete them and start afresh. Without it `fit` refuses to start there.
        Retention keeps the latest ``keep`` checkpoints and, always, the best one (by
        ``best_metric``, else by the training loss), counted over the whole directory.
      devices: None (the default device), or a sequence of devices (``jax.devices()``)
        to train data-parallel on: data and parameters replicated, each batch split over
        a one-axis mesh ``("data",)``; ``batch_size`` must divide evenly among them. With
        several processes (``jax.distributed.initialize``), every process calls `fit`
        with the same arguments and data, and ``jax.devices()`` spans all of them.
      compute_dtype: None (float32), or ``jnp.bfloat16``/``jnp.float16`` for the training
        forward and backward passes: parameters, optimizer state and batch statistics stay
        float32, the loss is taken in float32; validation runs in float32.
      on_epoch: called with each epoch's record (a copy) once it is complete (and
        checkpointed), e.g. to log progress where there is no terminal for the bar. If it
        returns ``True`` (a bool: other return values, such as a count from
        ``file.write``, are ignored), training stops after that epoch (early stopping,
        e.g. ``lambda r: r["val_accuracy"] >= 0.92``); that epoch is checkpointed if it was
        not already, and ``resume`` would carry on from there to ``epochs``.
      divergence_factor: stop (`DivergenceError`) when an epoch's mean training loss
        exceeds this factor times the lowest of the run's first-step loss and every earlier
        epoch's mean: a run that diverges while staying finite (a learning rate far too
        high) is not trained on and checkpointed. None turns the check off; it is off
        by itself for losses whose reference value is not positive.
      verbose: a tqdm bar on stderr when it is a terminal. The scan path advances it once
        per epoch (the epoch is one dispatch); ``per_step`` once per step with the
        running loss.

    Returns:
      The `History` of all epochs (those restored by ``resume`` included).

    Raises:
      ValueError: inputs or float targets hold NaN/inf, or class labels are not integers
        in ``[0, classes)``: checked on the host before anything compiles.
      NonFiniteLossError: the loss (or, at an epoch's end, a parameter) became NaN/inf;
        the model keeps the parameters from before that step (epoch), the checkpoints
        stay as they were.
      DivergenceError: the loss diverged (``divergence_factor``); the model keeps the
        state of the epoch before, which was checkpointed if its epoch was.
      CheckpointError: ``checkpoint_dir`` is not a writable directory with room for a
        checkpoint, holds checkpoints while neither ``resume`` nor ``overwrite`` is set,
        or ``resume`` found only corrupted or incompatible ones.
    """
    stream = _as_stream("fit", "train_data", train_data)
    x, y = (None, None) if stream is not None else _arrays("fit", "train_data", train_data)
    if val_data is not None and _as_stream("fit", "val_data", val_data) is None:
        _arrays("fit", "val_data", val_data)  # checked up front, moved to the device later
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive int; got {epochs!r}")
    _check_batch("fit", batch_size, 0, "batch_size")
    _check_batch("fit", eval_batch_size, 0, "eval_batch_size")
    n = stream.n if stream is not None else int(x.shape[0])
    steps = n // batch_size
    if steps == 0:
        raise ValueError(f"fit: batch_size {batch_size} exceeds the {n} training examples; no full batch")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"fit: checkpoint_every must be a positive int; got {checkpoint_every!r}")
    if stream is not None and devices is not None:
        raise ValueError("fit: devices (data parallelism) needs device-resident train_data, not a streaming source")
    if devices is not None:
        devices = list(devices)
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise TypeError(f"fit: devices must be a non-empty sequence of jax.Device; got {devices!r}")
        if batch_size % len(devices):
            raise ValueError(
                f"fit: batch_size {batch_size} must be a multiple of the {len(devices)} devices it is split over"
            )
    if compute_dtype is not None:
        if not jnp.issubdtype(compute_dtype, jnp.floating):
            raise TypeError(f"fit: compute_dtype must be a floating dtype such as jnp.bfloat16; got {compute_dtype!r}")
        compute_dtype = jnp.dtype(compute_dtype)
    if resume and checkpoint_dir is None:
        raise ValueError("fit: resume=True needs checkpoint_dir")
    if resume and overwrite:
        raise ValueError("fit: resume=True continues from the checkpoints and overwrite=True deletes them; pass one")
    divergence_factor = guards.check_factor("fit", divergence_factor)
    if best_metric is not None and checkpoint_dir is None:
        raise ValueError("fit: best_metric selects checkpoints; it needs checkpoint_dir")

    loss_name, loss_fn = objectives.resolve_loss(loss)
    metric_fns = objectives.resolve_metrics(metrics, loss_name)
    tx, opt_config = resolve_optimizer(optimizer)
    best_mode = None if best_metric is None else ("max" if "accuracy" in best_metric else "min")
    config = _jsonable(dict(
        model=type(model).__name__, loss=loss_name, optimizer=opt_config,
        optimizer_fingerprint=guards.fingerprint(tx), batch_size=batch_size,
        seed=seed, num_examples=n, metrics=sorted(metric_fns), epochs=epochs,
        compute_dtype=None if compute_dtype is None else jnp.dtype(compute_dtype).name,
        best_metric=best_metric, best_mode=best_mode, per_step=per_step,
    ))
    if best_metric is not None:
        known = ["loss", *metric_fns] + ([f"val_{k}" for k in ["loss", *metric_fns]] if val_data is not None else [])
        if best_metric not in known:
            raise ValueError(f"fit: best_metric {best_metric!r} is not recorded; recorded: {known}")

    model.train()
    graph_train, params, keys, rest = _split(model)
    model.eval()
    graph_eval = _split(model)[0]
    classes = _check_data("fit", graph_eval, (params, keys, rest), loss_name,
                          (("train_data", x, y, stream), ("val_data", *_val_parts(val_data))))
    opt_state = tx.init(params)
    base = jax.random.key(seed)
    shuffle_key, step_key = jax.random.fold_in(base, 0), jax.random.fold_in(base, 1)

    history = History(config=config)
    ckpt = None
    start, reference = 0, None
    try:
        if checkpoint_dir is not None:
            ckpt = Checkpointer(checkpoint_dir, keep=keep, best_metric=best_metric, best_mode=best_mode)
            _claim(ckpt, resume, overwrite, (params, keys, rest, opt_state))
        if resume:
            like = {"model": nnx.to_pure_dict(nnx.state(model)), "opt_state": opt_state,
                    "key": np.asarray(jax.random.key_data(base))}
            found = ckpt.restore_newest(like, check=lambda where, meta: _check_resume(where, meta["config"], config))
            if found is not None:
                stored, meta = found
                state = nnx.state(model)
                nnx.replace_by_pure_dict(state, stored["model"])
                nnx.update(model, state)
                _, params, keys, rest = _split(model)
                opt_state = stored["opt_state"]
                start, reference = int(meta["epoch"]), meta.get("reference_loss")
                history = History(meta["history"]["records"], config)
                ckpt.retain()  # a run killed between its last save and retention resumes with nothing to train
        return _run(
            model=model, x=x, y=y, stream=stream, val_data=val_data, n=n, steps=steps, batch_size=batch_size,
            epochs=epochs, start=start, loss_fn=loss_fn, metric_fns=metric_fns, tx=tx, graph_train=graph_train,
            graph_eval=graph_eval, params=params, keys=keys, rest=rest, opt_state=opt_state,
            shuffle_key=shuffle_key, step_key=step_key, augment=augment, per_step=per_step,
            eval_batch_size=eval_batch_size, ckpt=ckpt, checkpoint_every=checkpoint_every, history=history,
            config=config, verbose=verbose, base=base, devices=devices, compute_dtype=compute_dtype,
            on_epoch=on_epoch, guard=_Guard(divergence_factor, reference, classes),
        )
    finally:
        model.eval()
        if ckpt is not None:
            ckpt.close()


def _val_parts(val_data):
    """``(inputs, targets, stream)`` of ``val_data`` (all None when there is none)."""
    if val_data is None:
        return None, None, None
    stream = _as_stream("fit", "val_data", val_data)
    return (None, None, stream) if stream is not None else (*_arrays("fit", "val_data", val_data), None)


def _check_data(fn, graph_eval, state, loss_name, sets) -> None:
    """Refuses non-finite inputs and targets, and class labels the model cannot have, before training.

    ``sets`` holds ``(name, inputs, targets, stream)``; a stream's labels are checked batch by
    batch as they are read, its images are uint8.
    """
    classes = None
    for name, x, y, stream in sets:
        if loss_name in objectives.CLASSIFICATION and classes is None and (x is not None or stream is not None):
            shape = (1, *(x.shape[1:] if x is not None else stream.image_shape))
            out = jax.eval_shape(lambda s, v: nnx.merge(graph_eval, *s)(v), state,
                                 jax.ShapeDtypeStruct(shape, jnp.float32))
            classes = int(out.shape[-1])
        if x is None:
            continue
        guards.check_finite(fn, f"{name} inputs", x)
        if y is not x:
            if classes is not None:
                guards.check_labels(fn, f"{name} labels", y, classes)
            else:
                guards.check_finite(fn, f"{name} targets", y)
    return classes


def _claim(ckpt, resume: bool, overwrite: bool, arrays) -> None:
    """Makes ``ckpt``'s directory this run's before anything trains: refuses another run's
    checkpoints unless resuming or told to overwrite, and checks the disk has room."""
    existing = ckpt.epochs()
    if existing and not resume:
        if not overwrite:
            raise CheckpointError(
                f"fit: checkpoint_dir {ckpt.directory} already holds checkpoints of epochs {existing}; "
                "pass resume=True to continue from them, overwrite=True to delete them and start afresh, "
                "or another checkpoint_dir"
            )
        ckpt.clear()
    nbytes = sum(a.nbytes for a in jax.tree.leaves(arrays) if hasattr(a, "nbytes"))
    ckpt.check_space(nbytes)


@dataclasses.dataclass
class _Guard:
    """The divergence check's state: its factor and the reference loss (lowest so far)."""

    factor: float | None
    reference: float | None = None
    classes: int | None = None  # the model's classes, for a streaming source's labels

    def update(self, loss: float) -> None:
        self.reference = loss if self.reference is None else min(self.reference, loss)


def _check_resume(where, stored: dict, now: dict) -> None:
    for k in _RESUME_KEYS:
        if k == "optimizer_fingerprint" and stored.get(k) != now.get(k):
            raise CheckpointError(
                f"fit: cannot resume from {where}: it was trained with other optimizer hyperparameters (a "
                f"different learning rate, schedule or optimizer; {stored.get('optimizer')!r} then, "
                f"{now.get('optimizer')!r} now); use the same optimizer or another checkpoint_dir"
            )
        if stored.get(k) != now.get(k):
            raise CheckpointError(
                f"fit: cannot resume from {where}: its {k} is {stored.get(k)!r} but this run's is "
                f"{now.get(k)!r}; use the same setting or another checkpoint_dir"
            )


@dataclasses.dataclass(frozen=True, eq=True)
class _Spec:
    """What a compiled training step depends on statically; equal specs share compilations
    (jit caches on it), so a second `fit` of the same model and optimizer skips compiling."""

    graph: Any  # the train-mode GraphDef
    loss_fn: Callable
    metric_fns: tuple  # ((name, fn), ...)
    tx: optax.GradientTransformation
    augment: Callable | None
    n: int
    batch_size: int
    batch_sharding: Any = None  # NamedSharding splitting the batch axis over a mesh, or None
    compute_dtype: Any = None  # e.g. jnp.bfloat16: forward/backward in it, float32 parameters

    def __post_init__(self):
        # jit hashes its static arguments on every call; a GraphDef's hash walks the graph.
        fields = (self.graph, self.loss_fn, self.metric_fns, self.tx, self.augment, self.n, self.batch_size,
                  self.batch_sharding, self.compute_dtype)
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

    @property
    def steps(self) -> int:
        return self.n // self.batch_size


def _train_step(spec: _Spec, carry: TrainState, i, step, data, step_key):
    params, keys, rest, opt_state, ok = carry
    bx, by = cdata.take(data, i)
    bx, by = _scale(bx), _scale(by)
    if spec.batch_sharding is not None:
        # Data parallel: each device computes on its slice of the batch; XLA's SPMD
        # partitioner inserts the all-reduce of the gradients (and of BatchNorm's moments).
        bx, by = (jax.lax.with_sharding_constraint(a, spec.batch_sharding) for a in (bx, by))
    k = jax.random.fold_in(step_key, step)
    if spec.augment is not None:
        bx = spec.augment(jax.random.fold_in(k, 0), bx)
    keys = _reseed(keys, jax.random.fold_in(k, 1))

    def objective(params, keys, rest):
        if spec.compute_dtype is None:
            m = nnx.merge(spec.graph, params, keys, rest, copy=True)
            pred = m(bx)
        else:
            # Mixed precision: the float32 parameters are cast for the pass (their gradients
            # come back in float32 through the cast); the loss is taken in float32.
            m = nnx.merge(spec.graph, _cast(params, spec.compute_dtype), keys, rest, copy=True)
            pred = m(bx.astype(spec.compute_dtype)).astype(jnp.float32)
        per = spec.loss_fn(pred, by)
        new_rest = _split(m)[3]
        new_rest = jax.tree.map(lambda new, old: new.astype(old.dtype), new_rest, rest)  # stats stay float32
        return jnp.mean(per), (pred, per, new_rest)

    (value, (pred, per, new_rest)), grads = jax.value_and_grad(objective, has_aux=True)(params, keys, rest)
    updates, new_opt = spec.tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    good = ok & jnp.isfinite(value)
    # After a non-finite loss nothing moves, so the carry keeps the last good state.
    carry = TrainState(_select(good, new_params, params), keys, _select(good, new_rest, rest),
                       _select(good, new_opt, opt_state), good)
    sums = {"loss": jnp.sum(per), **{name: jnp.sum(f(pred, by)) for name, f in spec.metric_fns}}
    return carry, (value, sums)


def _epoch_rows(spec: _Spec, epoch, shuffle_key):
    return cdata.epoch_indices(jax.random.fold_in(shuffle_key, epoch), spec.n, batch_size=spec.batch_size,
                               remainder="drop")[0]


def _scan_epoch_impl(spec: _Spec, carry, epoch, data, shuffle_key, step_key):
    idx = _epoch_rows(spec, epoch, shuffle_key)
    step_ids = epoch * spec.steps + jnp.arange(spec.steps, dtype=jnp.int32)
    return jax.lax.scan(lambda c, s: _train_step(spec, c, s[0], s[1], data, step_key), carry, (idx, step_ids))


_scan_epoch = jax.jit(_scan_epoch_impl, static_argnums=0)


_jit_step = jax.jit(_train_step, static_argnums=0)
_jit_rows = jax.jit(_epoch_rows, static_argnums=0)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _jit_eval(graph, fns, n, batch_size, data, params, keys, rest):
    return _eval_sums(graph, dict(fns), data, n, batch_size, params, keys, rest)


def _run(*, model, x, y, stream, val_data, n, steps, batch_size, epochs, start, loss_fn, metric_fns, tx,
         graph_train, graph_eval, params, keys, rest, opt_state, shuffle_key, step_key, augment,
         per_step, eval_batch_size, ckpt, checkpoint_every, history, config, verbose, base, devices,
         compute_dtype, on_epoch, guard):
    """The epoch loop of `fit`, after arguments are checked and any checkpoint restored."""
    replicated = batch_sharding = None
    if devices is not None:
        mesh = jax.sharding.Mesh(np.asarray(devices), ("data",))
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        params, keys, rest, opt_state = _replicate((params, keys, rest, opt_state), replicated)
    data = stream if stream is not None else _to_device(x, y, replicated)
    if stream is not None:
        stream.num_classes = guard.classes
    names = ["loss", *metric_fns]
    spec = _Spec(graph_train, loss_fn, tuple(metric_fns.items()), tx, augment, n, batch_size, batch_sharding,
                 compute_dtype)
    if val_data is not None:
        vstream = _as_stream("fit", "val_data", val_data)
        vdata = vstream if vstream is not None else _to_device(*_arrays("fit", "val_data", val_data), replicated)
        if vstream is not None:
            vstream.num_classes = guard.classes
        vn = vstream.n if vstream is not None else int(vdata[0].shape[0])
        eval_fns = (("loss", loss_fn), *metric_fns.items())

    show = bool(verbose) and sys.stderr.isatty()
    bar = None
    per_step = per_step or stream is not None
    if show and not per_step:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, initial=start, unit="epoch", desc="fit", leave=True)
    carry = TrainState(params, keys, rest, opt_state, jnp.bool_(True))
    try:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            before = carry
            if per_step:
                carry, (values, sums) = _per_step_epoch(spec, carry, epoch, data, shuffle_key, step_key, show)
            else:
                carry, (values, sums) = _scan_epoch(spec, carry, jnp.int32(epoch), data, shuffle_key, step_key)
            values = np.asarray(values)
            if not np.all(np.isfinite(values)):
                bad = int(np.argmin(np.isfinite(values)))
                nnx.update(model, *carry.model_state)
                last = ckpt.path(ckpt.latest()) if ckpt is not None and ckpt.latest() is not None else None
                raise NonFiniteLossError(
                    f"fit: the loss became {values[bad]} at epoch {epoch + 1}, step {bad + 1} of {steps} "
                    f"(global step {epoch * steps + bad}); stopped. The model holds the parameters from "
                    f"before that step; last good checkpoint: {last}. Lower the learning rate?",
                    epoch=epoch + 1, step=bad + 1, history=history, checkpoint=last,
                )
            record = {"epoch": epoch + 1}
            record.update({k: float(np.sum(np.asarray(sums[k], np.float64))) / (steps * batch_size) for k in names})
            if epoch == 0:
                guard.update(float(values[0]))  # the loss of the initial parameters
            _check_epoch(model, before, carry, epoch, record["loss"], guard, ckpt, history)
            guard.update(record["loss"])
            if val_data is not None:
                if isinstance(vdata, _Stream):
                    vs = _stream_eval(graph_eval, eval_fns, vdata, eval_batch_size, *carry.model_state)
                else:
                    vs = _jit_eval(graph_eval, eval_fns, vn, eval_batch_size, vdata, *carry.model_state)
                record.update({f"val_{k}": float(vs[k]) / vn for k in names})
            jax.block_until_ready(carry)
            dt = time.perf_counter() - t0
            record.update(time_s=dt, examples_per_s=steps * batch_size / dt)
            history.records.append(record)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k in names or k.startswith("val_")})
                bar.update(1)
            saved = ckpt is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs)
            if saved:
                _save_epoch(ckpt, epoch + 1, graph_eval, carry, base, config, history, record, guard)
            if on_epoch is not None and _says_stop(on_epoch(dict(record))):
                # Stopped early: this epoch is the run's last, so it is checkpointed too.
                if ckpt is not None and not saved:
                    _save_epoch(ckpt, epoch + 1, graph_eval, carry, base, config, history, record, guard)
                break
    finally:
        if bar is not None:
            bar.close()
    nnx.update(model, *carry.model_state)
    return history


def _check_epoch(model, before, carry, epoch, loss, guard, ckpt, history) -> None:
    """Stops training (model back at ``before``, the state at the epoch's start) when the
    parameters went non-finite under a finite loss, or the loss diverged."""
    finite = guards.all_finite((carry.params, carry.rest))
    if finite and not guards.diverged(loss, guard.reference, guard.factor):
        return
    nnx.update(model, *before.model_state)
    last = ckpt.path(ckpt.latest()) if ckpt is not None and ckpt.latest() is not None else None
    where = (f"stopped before saving it. The model holds the state from the start of epoch {epoch + 1}; "
             f"last good checkpoint: {last}")
    if not finite:
        raise NonFiniteLossError(
            f"fit: a parameter or batch statistic became NaN/inf during epoch {epoch + 1} while the loss stayed "
            f"finite; {where}. Lower the learning rate?", epoch=epoch + 1, step=None, history=history, checkpoint=last,
        )
    raise DivergenceError(
        f"fit: the training loss diverged at epoch {epoch + 1}: its mean {loss:.4g} is over divergence_factor="
        f"{guard.factor:g} times the lowest so far ({guard.reference:.4g}); {where}. Lower the learning rate, "
        "or raise divergence_factor (None turns the check off)",
        epoch=epoch + 1, step=None, history=history, checkpoint=last,
    )


def _save_epoch(ckpt, epoch, graph_eval, carry, base, config, history, record, guard):
    ckpt.save(
        epoch,
        {
            "model": _merged_state(graph_eval, carry),
            "opt_state": carry.opt_state,
            # The run's key as a host array: the same in every process, so orbax writes it once.
            "key": np.asarray(jax.random.key_data(base)),
        },
        {"config": config, "epoch": epoch, "history": history.to_dict(), "reference_loss": guard.reference},
        metrics={k: v for k, v in record.items() if isinstance(v, float) and math.isfinite(v)},
    )


def _says_stop(answer) -> bool:
    """An ``on_epoch`` callback's answer: only a boolean True stops training."""
    return isinstance(answer, bool | np.bool_) and bool(answer)


def _merged_state(graphdef, carry: TrainState):
    return nnx.to_pure_dict(nnx.state(nnx.merge(graphdef, *carry.model_state)))


def _per_step_epoch(spec, carry, epoch, data, shuffle_key, step_key, show):
    """One epoch as a Python loop of jitted steps: the same step function as the scan."""
    idx = np.asarray(_jit_rows(spec, jnp.int32(epoch), shuffle_key))
    values, sums = [], []
    bar = None
    if show:
        from tqdm.auto import tqdm
        bar = tqdm(total=spec.steps, unit="step", desc=f"epoch {epoch + 1}", leave=False)
    total = 0.0
    streaming = isinstance(data, _Stream)
    if streaming:
        # The host reads batch s + 1 while the device trains on batch s.
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1)
        pending = pool.submit(data.batch, idx[0])
        rows = np.arange(spec.batch_size, dtype=idx.dtype)
    for s in range(spec.steps):
        if streaming:
            batch = jax.device_put(pending.result())
            if s + 1 < spec.steps:
                pending = pool.submit(data.batch, idx[s + 1])
            carry, (v, b) = _jit_step(spec, carry, rows, np.int32(epoch * spec.steps + s), batch, step_key)
        else:
            carry, (v, b) = _jit_step(spec, carry, idx[s], np.int32(epoch * spec.steps + s), data, step_key)
        values.append(v)
        sums.append(b)
        if bar is not None:
            total += float(v)
            bar.set_postfix(loss=f"{total / (s + 1):.4g}")
            bar.update(1)
            if not bool(carry.ok):
                break  # the bar synchronises every step anyway; stop at the first bad one
    if bar is not None:
        bar.close()
    if streaming:
        pool.shutdown(wait=True, cancel_futures=True)
    return carry, (jnp.stack(values), jax.tree.map(lambda *a: jnp.stack(a), *sums))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _batch_sums(graph, fns, x, y, mask, params, keys, rest):
    """Masked per-name sums over one batch, in evaluation mode."""
    model = nnx.merge(graph, params, keys, rest, copy=True)
    pred, y = model(_scale(x)), _scale(y)
    return {k: jnp.sum(jnp.where(mask, f(pred, y), 0)) for k, f in fns}


def _stream_eval(graph, fns, stream: "_Stream", batch_size, params, keys, rest):
    """`_eval_sums` for a streaming source: every example once, the last batch padded and masked."""
    idx, mask = cdata.epoch_indices(None, stream.n, batch_size=batch_size, remainder="pad")
    total = None
    for row, m in zip(np.asarray(idx), np.asarray(mask)):
        x, y = stream.batch(row)
        sums = _batch_sums(graph, tuple(fns), x, y, m, params, keys, rest)
        total = sums if total is None else jax.tree.map(jnp.add, total, sums)
    return total
