"""The two trainers that `loop.EpochLoop` drives: `OneModel` for `fit`, `Stack` for `fit_many`
(M members on a leading axis, one vmapped program), with how each resumes from a checkpoint.
"""

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnlab.train import core, guards, progress
from cnnlab.train.evaluate import sums_over
from cnnlab.train.history import History
from cnnlab.train.inputs import Mesh, replicate
from cnnlab.train.loop import EpochLoop
from cnnlab.train.restore import check_config, restore_newest
from cnnlab.train.state import TrainState

__all__ = ["OneModel", "Stack", "member_config", "resume_one", "resume_stack"]

# Config keys that must agree between a checkpoint and the run resuming from it.
_RESUME_KEYS = (
    "loss",
    "optimizer",
    "optimizer_fingerprint",
    "batch_size",
    "seed",
    "num_examples",
    "metrics",
    "model",
    "compute_dtype",
    "trainable",
    "penalty",
)


def resume_one(loop: EpochLoop, state: TrainState, config: dict, mesh: Mesh) -> tuple[TrainState, int]:
    """The state and first epoch from the newest intact checkpoint (unchanged, 0 if there is none)."""
    trainer = loop.trainer
    like = {
        "model": nnx.to_pure_dict(nnx.state(trainer.model)),
        "opt_state": state.opt_state,
        "key": np.asarray(jax.random.key_data(trainer.base)),
    }
    now = {k: config.get(k) for k in _RESUME_KEYS}
    found = restore_newest(loop.ckpt, like, check=lambda where, meta: check_config("fit", where, meta["config"], now))
    if found is None:
        return state, 0
    stored, meta = found
    model_state = nnx.state(trainer.model)
    nnx.replace_by_pure_dict(model_state, stored["model"])
    nnx.update(trainer.model, model_state)
    _, *parts = core.split(trainer.model, trainer.spec.trainable)
    loop.histories = [History(meta["history"]["records"], config)]
    loop.references = [meta.get("reference_loss")]
    loop.ckpt.retain()  # a run killed between its last save and retention resumes with nothing to train
    state = TrainState(*parts, stored["opt_state"], state.ok)
    return (state if mesh.replicated is None else replicate(state, mesh.replicated)), int(meta["epoch"])


class _FromSpec:
    """What both trainers read off their `core.StepSpec`: the recorded names, steps and batch."""

    spec: core.StepSpec

    @property
    def names(self) -> list[str]:
        return ["loss", *(name for name, _ in self.spec.metric_fns)]

    @property
    def steps(self) -> int:
        return self.spec.steps

    @property
    def batch_size(self) -> int:
        return self.spec.batch_size


@dataclasses.dataclass
class OneModel(_FromSpec):
    """`fit`'s trainer: one model (M = 1)."""

    model: nnx.Module
    spec: core.StepSpec
    graph_eval: Any
    base: jax.Array  # the run's key; shuffles with fold_in(base, 0), steps with fold_in(base, 1)
    data: Any  # (x, y) on the device, or a SourceReader
    per_step: bool
    validation: tuple | None = None  # (data, n, fns, batch_size)
    members: int = 1

    def epoch(self, state, epoch, bar):
        keys = jax.random.fold_in(self.base, 0), jax.random.fold_in(self.base, 1)
        if self.per_step:
            state, (values, sums) = core.per_step_epoch(self.spec, state, epoch, self.data, keys, bar)
        else:
            state, (values, sums) = _run(
                core.scan_epoch, _ticking_epoch, bar, self.spec, state, epoch, self.data, *keys
            )
        return state, np.asarray(values)[None], {k: np.asarray(v)[None] for k, v in sums.items()}

    def validate(self, state):
        if self.validation is None:
            return None
        data, n, fns, batch_size = self.validation
        sums = sums_over(self.graph_eval, fns, data, batch_size, state.model_state)
        return {k: np.asarray(v, np.float64)[None] / n for k, v in sums.items()}

    def finite(self, state):
        return np.asarray([guards.all_finite((state.params, state.rest))])

    def freeze(self, state, before, members):
        return before._replace(ok=jnp.bool_(False)) if members[0] else state

    def publish(self, state):
        nnx.update(self.model, *state.model_state)

    def member(self, j):
        return ""

    def checkpoint(self, state, epoch, loop):
        merged = nnx.to_pure_dict(nnx.state(nnx.merge(self.graph_eval, *state.model_state)))
        # The run's key as a host array: the same in every process, so orbax writes it once.
        arrays = {"model": merged, "opt_state": state.opt_state, "key": np.asarray(jax.random.key_data(self.base))}
        history = loop.histories[0]
        meta = {
            "config": history.config,
            "epoch": epoch,
            "history": history.to_dict(),
            "reference_loss": loop.references[0],
        }
        return arrays, meta, _finite(history.records[-1])

    def report(self, records):
        return records[0]


def _finite(record: dict) -> dict:
    """The finite numbers of a record: what a checkpoint stores to rank itself by."""
    return {k: v for k, v in record.items() if isinstance(v, float) and math.isfinite(v)}


def member_config(config, j, seed):
    """Member ``j``'s history config: the run's, with its seed and, in a sweep, its own rate."""
    out = {k: v for k, v in config.items() if k != "learning_rates"}
    if config.get("learning_rates") is not None:
        out["optimizer"] = {**config["optimizer"], "learning_rate": config["learning_rates"][j]}
    return {**out, "seed": seed}


def resume_stack(loop: EpochLoop, state: TrainState) -> tuple[TrainState, int]:
    """The state and first epoch from the newest intact checkpoint (unchanged, 0 if there is none)."""
    trainer = loop.trainer
    config, seeds = trainer.config, trainer.seeds
    now = {
        **{k: v for k, v in config.items() if k != "epochs"},
        "seeds": list(seeds),
        "model": type(trainer.models[0]).__name__,
    }
    like = {"params": state.params, "rest": state.rest, "opt_state": state.opt_state}
    found = restore_newest(loop.ckpt, like, lambda where, meta: check_config("fit_many", where, meta["config"], now))
    if found is None:
        return state, 0
    stored, meta = found
    loop.histories = [
        History(records, member_config(config, j, s)) for j, (records, s) in enumerate(zip(meta["histories"], seeds))
    ]
    for h, stop in zip(loop.histories, meta.get("diverged_at") or [None] * len(seeds)):
        if stop is not None:
            h.config["diverged_at"] = stop
    loop.references = list(meta.get("reference_losses") or [None] * len(seeds))
    loop.ckpt.retain()
    # Members frozen by on_nonfinite="freeze" stay frozen (checkpoints before it had none).
    ok = jnp.asarray([h.config.get("diverged_at") is None for h in loop.histories])
    return TrainState(stored["params"], state.rng_keys, stored["rest"], stored["opt_state"], ok), int(meta["epoch"])


def _many_epoch_impl(spec, state, epoch, data, shuffle_keys, step_keys, tick=None):
    """One epoch of every member: `fit`'s scanned epoch, vmapped over the members' leading axis.

    The step number is the same for every member (not batched), so ``tick`` runs once for the stack, not per member.
    """
    epoch_fn = functools.partial(core.scan_epoch_impl, spec, tick=tick)
    return jax.vmap(epoch_fn, in_axes=(0, None, None, 0, 0))(state, epoch, data, shuffle_keys, step_keys)


# Module-level and keyed on the static spec (as `fit`'s own jitted epoch), so a second
# `fit_many` of the same architecture, optimizer and data shape reuses the compiled program.
_many_epoch = jax.jit(_many_epoch_impl, static_argnums=0)
# The same epochs reporting each step to the progress bar: compiled only when a bar is shown.
_ticking_epoch = jax.jit(functools.partial(core.scan_epoch_impl, tick=progress.tick), static_argnums=0)
_ticking_many_epoch = jax.jit(functools.partial(_many_epoch_impl, tick=progress.tick), static_argnums=0)


def _run(plain, ticking, bar, spec, state, epoch, *rest):
    """One scanned epoch: ``plain`` without a bar; with one, ``ticking``, compiled under its "compiling"."""
    args = (spec, state, jnp.int32(epoch), *rest)
    if bar is None:
        return plain(*args)
    bar.compile(ticking, *args)
    return ticking(*args)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _many_eval(graph, fns, batch_size, data, model_state):
    """Every member's masked validation sums over the shared data."""
    return jax.vmap(lambda s: core.eval_sums(graph, dict(fns), data, batch_size, s))(model_state)


@jax.jit
def _finite_members(tree):
    """``(M,)``: whether each member's floating leaves are all finite."""
    leaves = [a for a in jax.tree.leaves(tree) if jnp.issubdtype(a.dtype, jnp.floating)]
    per_leaf = [jnp.all(jnp.isfinite(a.reshape(a.shape[0], -1)), axis=1) for a in leaves]
    return jnp.all(jnp.stack(per_leaf), axis=0)


def _where_members(mask, new, old):
    """``new`` where ``mask`` (one bool per member) is False, ``old`` where it is True."""
    return jax.tree.map(lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), b, a), new, old)


@dataclasses.dataclass
class Stack(_FromSpec):
    """`fit_many`'s trainer: M members on a leading axis."""

    models: list
    spec: core.StepSpec
    graph_eval: Any
    seeds: list
    data: Any  # (x, y) on the device
    config: dict
    validation: tuple | None = None  # (data, n, fns, batch_size)

    def __post_init__(self):
        bases = [jax.random.key(s) for s in self.seeds]
        self.keys = tuple(jnp.stack([jax.random.fold_in(b, i) for b in bases]) for i in (0, 1))

    @property
    def members(self) -> int:
        return len(self.seeds)

    def epoch(self, state, epoch, bar):
        state, (values, sums) = _run(
            _many_epoch, _ticking_many_epoch, bar, self.spec, state, epoch, self.data, *self.keys
        )
        return state, np.asarray(values), {k: np.asarray(v) for k, v in sums.items()}

    def validate(self, state):
        if self.validation is None:
            return None
        data, n, fns, batch_size = self.validation
        sums = _many_eval(self.graph_eval, fns, batch_size, data, state.model_state)
        return {k: np.asarray(v, np.float64) / n for k, v in sums.items()}

    def finite(self, state):
        return np.asarray(_finite_members((state.params, state.rest)))

    def freeze(self, state, before, members):
        mask = jnp.asarray(members)
        return _where_members(mask, state, before)._replace(ok=state.ok & ~mask)

    def publish(self, state):
        for j, m in enumerate(self.models):
            nnx.update(m, *(jax.tree.map(lambda a, j=j: a[j], part) for part in state.model_state))

    def member(self, j):
        rates = self.config.get("learning_rates")
        return f" of seed {self.seeds[j]}" + ("" if rates is None else f" (learning_rate {rates[j]:g})")

    def checkpoint(self, state, epoch, loop):
        # The members' RNG keys are not stored: every step reseeds them from the run's seed.
        meta = {
            "config": {**self.config, "seeds": list(self.seeds), "model": type(self.models[0]).__name__},
            "epoch": epoch,
            "histories": [h.records for h in loop.histories],
            "diverged_at": [h.config.get("diverged_at") for h in loop.histories],
            "reference_losses": list(loop.references),
        }
        return {"params": state.params, "rest": state.rest, "opt_state": state.opt_state}, meta, None

    def report(self, records):
        return records
