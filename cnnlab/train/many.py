"""`fit_many`: several models of one architecture trained at once, ``vmap`` over seeds
(and, optionally, learning rates).

Each member is exactly what ``fit(make_model(nnx.Rngs(seed)), ..., seed=seed)`` trains
(same initialisation, shuffling and dropout keys; with ``learning_rates``, its own rate),
but the epochs of all members run as one compiled program: the parameters and optimizer
states are stacked on a leading axis and the epoch's scan is vectorised over it, the data
shared. Useful for the "mean ± std over n seeds" that results report, and for a
learning-rate sweep.
"""

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnlab.train import objectives
from cnnlab.train.checkpoint import Checkpointer, CheckpointError
from cnnlab.train.engine import (
    NonFiniteLossError,
    _arrays,
    _check_data,
    _claim,
    _eval_sums,
    _jsonable,
    _scan_epoch_impl,
    _Spec,
    _split,
    _to_device,
)
from cnnlab.train.guards import fingerprint
from cnnlab.train.history import History
from cnnlab.train.state import TrainState
from cnnlab.train.optimizers import resolve as resolve_optimizer
from cnnlab.train.optimizers import resolve_rate_in_state, set_learning_rate

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
) -> tuple[list[nnx.Module], list[History]]:
    """Trains one model per seed, all at once.

    Args:
      make_model: builds the model from ``nnx.Rngs(seed)``; every member must have the
        same structure.
      seeds: one int per member; seeds the initialisation and the run (as `fit`'s ``seed``).
      train_data, loss, optimizer, epochs, batch_size, val_data, metrics, eval_batch_size:
        as for `fit` (no ``augment``, no progress bar).
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
        ``diverged_at = {"epoch": e, "step": s}``. The others train on.

    Returns:
      ``(models, histories)``, one per seed, models in evaluation mode.

    Raises:
      NonFiniteLossError: some member's loss became NaN/inf (``on_nonfinite="raise"``);
        the message names its seed (and rate).
      CheckpointError: ``resume`` found a corrupted checkpoint, or one of another setup.
    """
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"fit_many: seeds must be a non-empty sequence of ints; got {seeds!r}")
    if on_nonfinite not in ("raise", "freeze"):
        raise ValueError(f"fit_many: on_nonfinite must be 'raise' or 'freeze'; got {on_nonfinite!r}")
    rates = None if learning_rates is None else _check_rates(learning_rates, seeds, optimizer)
    x, y = _arrays("fit_many", "train_data", train_data)
    n = int(x.shape[0])
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit_many: epochs must be a positive int; got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(f"fit_many: batch_size must be an int in [1, {n}]; got {batch_size!r}")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"fit_many: checkpoint_every must be a positive int; got {checkpoint_every!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("fit_many: resume=True needs checkpoint_dir")
    if resume and overwrite:
        raise ValueError("fit_many: resume=True continues from the checkpoints and overwrite=True deletes them; "
                         "pass one")
    loss_name, loss_fn = objectives.resolve_loss(loss)
    metric_fns = objectives.resolve_metrics(metrics, loss_name)
    if rates is None:
        tx, opt_config = resolve_optimizer(optimizer)
    else:
        tx, opt_config = resolve_rate_in_state(optimizer)

    models = [make_model(nnx.Rngs(s)) for s in seeds]
    graphs, parts = [], []
    for m in models:
        m.train()
        g, *state = _split(m)
        graphs.append(g)
        parts.append(state)
    if any(g != graphs[0] for g in graphs[1:]):
        raise ValueError("fit_many: make_model built models of different structure for different seeds")
    models[0].eval()
    graph_eval = _split(models[0])[0]
    vparts = (None, None, None) if val_data is None else (*_arrays("fit_many", "val_data", val_data), None)
    _check_data("fit_many", graph_eval, tuple(parts[0]), loss_name,
                (("train_data", x, y, None), ("val_data", *vparts)))
    params, keys, rest = (jax.tree.map(lambda *a: jnp.stack(a), *[p[i] for p in parts]) for i in range(3))
    opt_state = jax.vmap(tx.init)(params)
    if rates is not None:
        opt_state = set_learning_rate(opt_state, rates)
    bases = [jax.random.key(s) for s in seeds]
    shuffle_keys = jnp.stack([jax.random.fold_in(b, 0) for b in bases])
    step_keys = jnp.stack([jax.random.fold_in(b, 1) for b in bases])

    steps = n // batch_size
    spec = _Spec(graphs[0], loss_fn, tuple(metric_fns.items()), tx, None, n, batch_size)
    data = _to_device(x, y)
    names = ["loss", *metric_fns]
    run_epoch = functools.partial(_many_epoch, spec)
    run_eval = vdata = None
    if val_data is not None:
        vdata = _to_device(*_arrays("fit_many", "val_data", val_data))
        fns = (("loss", loss_fn), *metric_fns.items())
        run_eval = functools.partial(_many_eval, graph_eval, fns, int(vdata[0].shape[0]), eval_batch_size)
    config = _jsonable({"loss": loss_name, "optimizer": opt_config, "optimizer_fingerprint": fingerprint(tx),
                        "batch_size": batch_size, "num_examples": n,
                        "metrics": sorted(metric_fns), "epochs": epochs, "learning_rates": rates})
    histories = [History(config=_member_config(config, j, s)) for j, s in enumerate(seeds)]
    carry = TrainState(params, keys, rest, opt_state, jnp.ones((len(seeds),), jnp.bool_))
    ckpt = None
    try:
        start = 0
        if checkpoint_dir is not None:
            ckpt = Checkpointer(checkpoint_dir, keep=keep)
            _claim(ckpt, resume, overwrite, (*carry.model_state, carry.opt_state))
        if resume and ckpt.latest() is not None:
            carry, start, histories = _restore(ckpt, carry, config, seeds, type(models[0]).__name__)
            ckpt.retain()
        _epochs(run_epoch, run_eval, carry, start, epochs, data, vdata, shuffle_keys, step_keys, seeds, steps,
                batch_size, names, histories, models, ckpt, checkpoint_every, config, on_nonfinite == "freeze")
    finally:
        if ckpt is not None:
            ckpt.close()
    return models, histories


def _check_rates(learning_rates, seeds, optimizer) -> list[float]:
    rates = list(learning_rates)
    if len(rates) != len(seeds):
        raise ValueError(
            f"fit_many: learning_rates must give one rate per seed ({len(seeds)} seeds); got {len(rates)} rates. "
            f"To sweep the rate alone, repeat a seed: seeds=[{seeds[0]}] * {len(rates)}"
        )
    bad = [r for r in rates if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or r <= 0]
    if bad:
        raise ValueError(f"fit_many: learning_rates must be positive finite numbers; got {bad[0]!r} in {rates!r}")
    if not isinstance(optimizer, str | Mapping):
        raise TypeError(
            "fit_many: learning_rates needs the optimizer as a name or config dict (e.g. 'adam'), so that each "
            f"member's rate can be set; got {type(optimizer).__name__}"
        )
    if isinstance(optimizer, Mapping) and "learning_rate" in optimizer:
        raise ValueError(
            f"fit_many: the optimizer config sets learning_rate={optimizer['learning_rate']!r} and learning_rates "
            "is given too; give the rates in learning_rates only"
        )
    if isinstance(optimizer, Mapping) and "name" not in optimizer:
        raise ValueError(f"fit_many: an optimizer config needs a 'name'; got keys {sorted(optimizer)}")
    return [float(r) for r in rates]


def _member_config(config, j, seed):
    """Member ``j``'s history config: the run's, with its seed and, in a sweep, its own rate."""
    out = {k: v for k, v in config.items() if k != "learning_rates"}
    if config.get("learning_rates") is not None:
        out["optimizer"] = {**config["optimizer"], "learning_rate": config["learning_rates"][j]}
    return {**out, "seed": seed}


def _restore(ckpt, carry, config, seeds, model_name):
    """The carry, first epoch and histories stored in ``ckpt``'s latest intact checkpoint, checked to match."""
    now = {**{k: v for k, v in config.items() if k != "epochs"}, "seeds": list(seeds), "model": model_name}

    def check(where, meta):
        for k, v in now.items():
            if meta.get("config", {}).get(k) != v:
                raise CheckpointError(
                    f"fit_many: cannot resume from {where}: its {k} is {meta.get('config', {}).get(k)!r} but this "
                    f"run's is {v!r}; use the same setting or another checkpoint_dir"
                )

    params, keys, rest, opt_state, ok = carry
    stored, meta = ckpt.restore_newest({"params": params, "rest": rest, "opt_state": opt_state}, check)
    histories = [History(records, _member_config(config, j, s))
                 for j, (records, s) in enumerate(zip(meta["histories"], seeds))]
    for h, stop in zip(histories, meta.get("diverged_at") or [None] * len(seeds)):
        if stop is not None:
            h.config["diverged_at"] = stop
    # Members frozen by on_nonfinite="freeze" stay frozen (checkpoints before it had none).
    ok = jnp.asarray([h.config.get("diverged_at") is None for h in histories])
    state = TrainState(stored["params"], keys, stored["rest"], stored["opt_state"], ok)
    return state, int(meta["epoch"]), histories


# Module-level and keyed on the static spec (as `fit`'s own jitted epoch), so a second
# `fit_many` of the same architecture, optimizer and data shape reuses the compiled program.
@functools.partial(jax.jit, static_argnums=0)
def _many_epoch(spec, carry, epoch, data, shuffle_keys, step_keys):
    """One epoch of every member: `fit`'s scanned epoch, vmapped over the members' leading axis."""
    epoch_fn = functools.partial(_scan_epoch_impl, spec)
    return jax.vmap(epoch_fn, in_axes=(0, None, None, 0, 0))(carry, epoch, data, shuffle_keys, step_keys)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _many_eval(graph, fns, n, batch_size, data, params, keys, rest):
    """Every member's masked validation sums over the shared data."""
    fns = dict(fns)
    return jax.vmap(lambda p, k, r: _eval_sums(graph, fns, data, n, batch_size, p, k, r))(params, keys, rest)


def _epochs(run_epoch, run_eval, carry, start, epochs, data, vdata, shuffle_keys, step_keys, seeds, steps,
            batch_size, names, histories, models, ckpt, checkpoint_every, config, freeze):
    """The epoch loop of `fit_many`; leaves the trained members in ``models``."""
    vn = None if vdata is None else int(vdata[0].shape[0])
    rates = config.get("learning_rates")
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        was_running = np.asarray(carry.ok)
        carry, (values, sums) = run_epoch(carry, jnp.int32(epoch), data, shuffle_keys, step_keys)
        values = np.asarray(values)  # (members, steps)
        for member in np.flatnonzero(was_running & ~np.all(np.isfinite(values), axis=1)):
            step = int(np.flatnonzero(~np.isfinite(values[member]))[0])
            if not freeze:
                rate = "" if rates is None else f" (learning_rate {rates[member]:g})"
                raise NonFiniteLossError(
                    f"fit_many: the loss of seed {seeds[member]}{rate} became {values[member, step]} at epoch "
                    f"{epoch + 1}, step {step + 1} of {steps}; stopped",
                    epoch=epoch + 1, step=step + 1, history=histories[member], checkpoint=None,
                )
            # The scan already held this member at its last good state from that step on.
            histories[member].config["diverged_at"] = {"epoch": epoch + 1, "step": step + 1}
        vs = run_eval(vdata, *carry.model_state) if run_eval is not None else None
        jax.block_until_ready(carry)
        dt = time.perf_counter() - t0
        for j, h in enumerate(histories):
            record = {"epoch": epoch + 1}
            if "diverged_at" in h.config:  # no training this epoch (or from a step of it on)
                record.update({k: math.nan for k in names})
            else:
                record.update({k: float(np.sum(np.asarray(sums[k][j], np.float64))) / (steps * batch_size)
                               for k in names})
            if vs is not None:
                record.update({f"val_{k}": float(vs[k][j]) / vn for k in names})
            record.update(time_s=dt, examples_per_s=len(seeds) * steps * batch_size / dt)
            h.records.append(record)
        if ckpt is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs):
            # The members' RNG keys are not stored: every step reseeds them from the run's seed.
            meta = {"config": {**config, "seeds": list(seeds), "model": type(models[0]).__name__},
                    "epoch": epoch + 1, "histories": [h.records for h in histories],
                    "diverged_at": [h.config.get("diverged_at") for h in histories]}
            ckpt.save(epoch + 1, {"params": carry.params, "rest": carry.rest, "opt_state": carry.opt_state}, meta)
    for j, m in enumerate(models):
        nnx.update(m, *(jax.tree.map(lambda a, j=j: a[j], part) for part in carry.model_state))
        m.eval()
