"""`fit`: trains any Flax NNX model, one compiled ``lax.scan`` per epoch.

The data goes to the device once. An epoch is then one dispatch of `core.scan_epoch`,
carrying a `TrainState` (parameters, RNG keys, other model state, optimizer state and a
"no non-finite loss yet" flag). ``per_step=True`` runs the same step function as a Python
loop of jitted steps (for debugging, to watch every step, or to stream data from the host)
and gives the same numbers. ``model.train()`` / ``model.eval()`` give two graphs, so Dropout
and BatchNorm behave as their mode says. The loop around the epochs (guards, history,
checkpoints, progress, early stopping) is `loop.EpochLoop`, shared with `fit_many`.
"""

import functools
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from cnnlab.train import core, freeze, guards, objectives
from cnnlab.train.history import History
from cnnlab.train.inputs import Data, Mesh, check_data, check_positive, jsonable, read, replicate, to_device
from cnnlab.train.loop import EpochLoop
from cnnlab.train.optimizers import resolve as resolve_optimizer
from cnnlab.train.options import Checkpointing, LoopOptions
from cnnlab.train.state import TrainState
from cnnlab.train.trainers import OneModel, resume_one

__all__ = ["fit"]


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
    trainable=None,
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
        ``"binary_crossentropy_logits"``, a callable ``(pred, target) -> (B,)``, or an
        `objectives.Objective` adding Keras's L2 kernel regulariser to one of them (the
        training ``loss`` then includes the penalty; metrics and ``val_loss`` do not).
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
      verbose: a tqdm bar of training steps on stderr when it is a terminal (off one, nothing:
        use ``on_epoch`` to log). It reads "compiling" until the program is compiled and then
        writes how long that took; it counts the steps of the run (the scanned epoch reports
        them from inside the compiled program, every few steps), its rate and ETA leave the
        compilation out, and each epoch's numbers show beside it (``per_step``: the running
        loss). The numbers trained are the same bit for bit with and without it; without a
        bar the compiled program has no callback in it.
      trainable: None (every ``nnx.Param`` trains), or an nnx filter choosing the parameters that
        train (`cnnlab.train.freeze`), e.g. ``nnx.Not(nnx.PathContains("encoder"))`` to freeze an
        encoder. Frozen parameters stay bit for bit as they are, get no gradient and no optimizer
        state (they are carried with the BatchNorm statistics); under ``compute_dtype`` they stay
        float32. Unfreeze by calling `fit` again with another filter (a new optimizer state).

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
    ckpts = Checkpointing(checkpoint_dir, checkpoint_every, keep, best_metric, resume, overwrite).check("fit")
    train, val = read("fit", "train_data", train_data), read("fit", "val_data", val_data)
    check_positive("fit", "epochs", epochs)
    options = LoopOptions("fit", epochs, guards.check_factor("fit", divergence_factor), False, verbose, on_epoch)
    check_positive("fit", "batch_size", batch_size)
    check_positive("fit", "eval_batch_size", eval_batch_size)
    if train.n // batch_size == 0:
        raise ValueError(f"fit: batch_size {batch_size} exceeds the {train.n} training examples; no full batch")
    mesh = Mesh.of(train, batch_size, devices)
    compute_dtype = _check_dtype(compute_dtype)
    loss_name, loss_fn = objectives.resolve_loss(loss)
    metric_fns = objectives.resolve_metrics(metrics, loss_name)
    penalty = objectives.resolve_penalty("fit", loss, model)
    tx, opt_config = resolve_optimizer(optimizer)
    chosen = freeze.resolve_trainable("fit", model, trainable)
    config = jsonable(
        dict(
            model=type(model).__name__,
            loss=loss_name,
            optimizer=opt_config,
            optimizer_fingerprint=guards.fingerprint(tx),
            batch_size=batch_size,
            seed=seed,
            num_examples=train.n,
            metrics=sorted(metric_fns),
            epochs=epochs,
            compute_dtype=None if compute_dtype is None else compute_dtype.name,
            best_metric=best_metric,
            best_mode=ckpts.best_mode,
            per_step=per_step,
            **({} if penalty is None else {"penalty": loss.describe()}),
            **({} if trainable is None else freeze.describe_trainable(model, trainable, chosen)),
        )
    )
    _check_best(ckpts, metric_fns, val)
    model.train()
    graph_train, *parts = core.split(model, chosen)
    model.eval()
    graph_eval = core.split(model, chosen)[0]
    check_data("fit", graph_eval, tuple(parts), loss_name, [train, val])
    spec = core.StepSpec(
        graph_train,
        loss_fn,
        tuple(metric_fns.items()),
        tx,
        augment,
        train.n,
        batch_size,
        mesh.batch,
        compute_dtype,
        chosen,
        penalty=penalty,
    )
    base = jax.random.key(seed)
    trainer = OneModel(
        model, spec, graph_eval, base, to_device(train, mesh.replicated), per_step or train.reader is not None
    )
    if val is not None:
        trainer.validation = (
            to_device(val, mesh.replicated),
            val.n,
            (("loss", loss_fn), *metric_fns.items()),
            eval_batch_size,
        )
    state = TrainState(*parts, tx.init(parts[0]), jnp.bool_(True))
    if mesh.replicated is not None:
        state = replicate(state, mesh.replicated)
    loop = EpochLoop(trainer, options, [History(config=config)], ckpts)
    try:
        loop.train(state, functools.partial(resume_one, config=config, mesh=mesh))
    finally:
        model.eval()
    return loop.histories[0]


def _check_dtype(compute_dtype):
    if compute_dtype is None:
        return None
    if not jnp.issubdtype(compute_dtype, jnp.floating):
        raise TypeError(f"fit: compute_dtype must be a floating dtype such as jnp.bfloat16; got {compute_dtype!r}")
    return jnp.dtype(compute_dtype)


def _check_best(ckpts: Checkpointing, metric_fns: dict, val: Data | None) -> None:
    if ckpts.best_metric is None:
        return
    names = ["loss", *metric_fns]
    known = names + ([f"val_{k}" for k in names] if val is not None else [])
    if ckpts.best_metric not in known:
        raise ValueError(f"fit: best_metric {ckpts.best_metric!r} is not recorded; recorded: {known}")
