"""`fit_many`: several models of one architecture trained at once, ``vmap`` over seeds
(and, optionally, learning rates).

Each member is exactly what ``fit(make_model(nnx.Rngs(seed)), ..., seed=seed)`` trains
(same initialisation, shuffling and dropout keys; with ``learning_rates``, its own rate),
but the epochs of all members run as one compiled program: the `TrainState` of every
member is stacked on a leading axis and `core.scan_epoch` is vectorised over it, the data
shared. The loop around the epochs is `fit`'s own (`loop.EpochLoop`). Useful for the
"mean ± std over n seeds" that results report, and for a learning-rate sweep.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from cnnlab.train import core, guards, objectives
from cnnlab.train.history import History
from cnnlab.train.inputs import check_data, check_positive, jsonable, read, to_device
from cnnlab.train.loop import EpochLoop
from cnnlab.train.optimizers import check_rates, resolve_rate_in_state, set_learning_rate
from cnnlab.train.optimizers import resolve as resolve_optimizer
from cnnlab.train.options import Checkpointing, LoopOptions
from cnnlab.train.state import TrainState
from cnnlab.train.trainers import Stack, member_config, resume_stack

__all__ = ["fit_many"]


def fit_many(
    make_model: Callable[[nnx.Rngs], nnx.Module],
    seeds: Sequence[int],
    train_data,
    *,
    loss,
    optimizer,
    epochs: int,
    batch_size: int,
    val_data=None,
    metrics=None,
    eval_batch_size: int = 256,
    checkpoint_dir=None,
    checkpoint_every: int = 1,
    keep: int = 3,
    resume: bool = False,
    overwrite: bool = False,
    learning_rates: Sequence[float] | None = None,
    on_nonfinite: str = "raise",
    divergence_factor: float | None = 100.0,
    verbose: bool = True,
    on_epoch: Callable[[list[dict]], bool | None] | None = None,
) -> tuple[list[nnx.Module], list[History]]:
    """Trains one model per seed, all at once.

    Args:
      make_model: builds the model from ``nnx.Rngs(seed)``; every member must have the
        same structure.
      seeds: one int per member; seeds the initialisation and the run (as `fit`'s ``seed``).
      train_data, loss, optimizer, epochs, batch_size, val_data, metrics, eval_batch_size:
        as for `fit` (no ``augment``).
      checkpoint_dir, checkpoint_every, keep, resume, overwrite: as for `fit`: one orbax
        checkpoint holds every member (stacked) and their histories; ``resume=True``
        continues from the latest intact one and ends with exactly the parameters of an
        uninterrupted run; another run's checkpoints are refused unless ``overwrite``.
      learning_rates: one positive rate per seed, for a learning-rate sweep: member ``i``
        trains with ``learning_rates[i]`` (with rmsprop's ``decay``, the rate at step 0).
        ``optimizer`` must then be a name or a config without ``learning_rate``. Repeat a
        seed (``seeds=[0] * 4``) to vary the rate alone. Each history's config records
        its member's rate.
      on_nonfinite: ``"raise"`` stops the run at the first NaN/inf loss of any member.
        ``"freeze"`` (for sweeps, where the largest rates may diverge) stops only that
        member, at its last good state: its later training records are NaN, its
        validation records those of the frozen model, and its history's config holds
        ``diverged_at = {"epoch": e, "step": s}`` (``"step": None`` when its parameters went
        NaN/inf or its loss diverged, found at the epoch's end, which puts it back to the
        epoch's start). The others train on.
      divergence_factor: as for `fit`, per member: a member whose epoch loss exceeds this
        factor times its own lowest so far stops the run (``"raise"``) or that member
        (``"freeze"``).
      verbose: as for `fit`: a bar of the steps of the stack (all members step together)
        on stderr when it is a terminal, "compiling" first, with the members' mean loss and
        metrics after each epoch; off a terminal nothing.
      on_epoch: called after each epoch with the list of the members' records (copies),
        once they are complete and checkpointed. Returning ``True`` (a bool) stops every
        member after that epoch (early stopping), which is checkpointed if it was not.

    Returns:
      ``(models, histories)``, one per seed, models in evaluation mode.

    Raises:
      NonFiniteLossError: some member's loss (or, at an epoch's end, a parameter) became
        NaN/inf (``on_nonfinite="raise"``); the message names its seed (and rate), and the
        models hold the members' last good state.
      DivergenceError: some member's loss diverged (``divergence_factor``,
        ``on_nonfinite="raise"``); the models hold the state of the epoch's start.
      CheckpointError: ``resume`` found a corrupted checkpoint, or one of another setup.
    """
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"fit_many: seeds must be a non-empty sequence of ints; got {seeds!r}")
    if on_nonfinite not in ("raise", "freeze"):
        raise ValueError(f"fit_many: on_nonfinite must be 'raise' or 'freeze'; got {on_nonfinite!r}")
    rates = None if learning_rates is None else check_rates(learning_rates, seeds, optimizer)
    train = read("fit_many", "train_data", train_data, stream=False)
    val = read("fit_many", "val_data", val_data, stream=False)
    check_positive("fit_many", "epochs", epochs)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= train.n:
        raise ValueError(f"fit_many: batch_size must be an int in [1, {train.n}]; got {batch_size!r}")
    ckpts = Checkpointing(checkpoint_dir, checkpoint_every, keep, None, resume, overwrite).check("fit_many")
    options = LoopOptions(
        "fit_many",
        epochs,
        guards.check_factor("fit_many", divergence_factor),
        on_nonfinite == "freeze",
        verbose,
        on_epoch,
    )
    loss_name, loss_fn = objectives.resolve_loss(loss)
    if isinstance(loss, objectives.Objective) and loss.l2 > 0:
        raise ValueError(f"fit_many: the L2 penalty of {loss} is not supported here; train with fit")
    metric_fns = objectives.resolve_metrics(metrics, loss_name)
    tx, opt_config = resolve_optimizer(optimizer) if rates is None else resolve_rate_in_state(optimizer)
    models = [make_model(nnx.Rngs(s)) for s in seeds]
    graph, state = _stack(models, tx, rates)
    models[0].eval()
    graph_eval = core.split(models[0])[0]
    check_data("fit_many", graph_eval, jax.tree.map(lambda a: a[0], state.model_state), loss_name, [train, val])
    config = jsonable(
        {
            "loss": loss_name,
            "optimizer": opt_config,
            "optimizer_fingerprint": guards.fingerprint(tx),
            "batch_size": batch_size,
            "num_examples": train.n,
            "metrics": sorted(metric_fns),
            "epochs": epochs,
            "learning_rates": rates,
        }
    )
    trainer = Stack(
        models,
        core.StepSpec(graph, loss_fn, tuple(metric_fns.items()), tx, None, train.n, batch_size),
        graph_eval,
        seeds,
        to_device(train),
        config,
    )
    if val is not None:
        trainer.validation = (to_device(val), val.n, (("loss", loss_fn), *metric_fns.items()), eval_batch_size)
    loop = EpochLoop(
        trainer, options, [History(config=member_config(config, j, s)) for j, s in enumerate(seeds)], ckpts
    )
    try:
        loop.train(state, resume_stack)
    finally:
        for m in models:
            m.eval()
    return models, loop.histories


def _stack(models, tx, rates):
    """The members' train graph and stacked `TrainState` (their optimizer states with their rates)."""
    graphs, parts = [], []
    for m in models:
        m.train()
        g, *state = core.split(m)
        graphs.append(g)
        parts.append(state)
    if any(g != graphs[0] for g in graphs[1:]):
        raise ValueError("fit_many: make_model built models of different structure for different seeds")
    params, keys, rest = (jax.tree.map(lambda *a: jnp.stack(a), *[p[i] for p in parts]) for i in range(3))
    opt_state = jax.vmap(tx.init)(params)
    if rates is not None:
        opt_state = set_learning_rate(opt_state, rates)
    return graphs[0], TrainState(params, keys, rest, opt_state, jnp.ones((len(models),), jnp.bool_))
