"""The compiled core of training: one step, one scanned epoch, evaluation sums, batched apply.

Everything here is a pure function of arrays and a static `StepSpec`, compiled by ``jit``.
`fit` runs `scan_epoch` on one model's `TrainState`; `fit_many` runs the same function under
``vmap`` over a stack of them. `evaluate`, `predict`, `recompute_batch_stats` and
`cnnlab.latent` use `eval_sums` and `apply_batched`.

The model is split once (``nnx.split(model, nnx.Param, nnx.RngKey, ...)``) into a graph and
arrays; each step merges them back (``nnx.merge``), calls the model and splits the new state
off, which XLA compiles away. Global step ``s`` draws its keys from ``fold_in(step_key, s)``:
the model's RNG streams (Dropout) are reseeded with them and ``augment`` gets one, so a run is
a function of the seed and the step alone, which is what lets a resumed run continue bit for
bit. Epoch ``e`` shuffles with ``fold_in(shuffle_key, e)``.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from cnnlab import data as cdata
from cnnlab.train.state import TrainState

__all__ = [
    "StepSpec",
    "apply_batched",
    "batch_sums",
    "eval_sums",
    "per_step_epoch",
    "scan_epoch",
    "split",
    "train_step",
]


def split(model: nnx.Module, trainable=nnx.Param):
    """``(graphdef, params, rng_keys, rest)`` of ``model``.

    ``params`` are the ``nnx.Param`` variables that ``trainable`` (an nnx filter, already
    intersected with ``nnx.Param`` by `freeze.resolve_trainable`) selects; frozen parameters
    go to ``rest`` with the other state, so they get no gradient and no optimizer state.
    """
    return nnx.split(model, trainable, nnx.RngKey, ...)


def scale(a):
    """uint8 images -> floats in [0, 1] (`cnnlab.data.to_float`); everything else as is."""
    return cdata.to_float(a) if a.dtype == jnp.uint8 else a


def reseed(keys, key):
    """Every RNG stream key of the model, replaced by ``fold_in(key, i)``."""
    leaves, treedef = jax.tree.flatten(keys)
    return jax.tree.unflatten(treedef, [jax.random.fold_in(key, i) for i in range(len(leaves))])


def _cast(tree, dtype):
    """Floating leaves of ``tree`` cast to ``dtype``; others unchanged."""
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _select(ok, new, old):
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


@dataclasses.dataclass(frozen=True, eq=True)
class StepSpec:
    """What a compiled training step depends on statically. Equal specs share compilations
    (``jit`` caches on it), so a second `fit` of the same model and optimizer skips compiling."""

    graph: Any  # the train-mode GraphDef
    loss_fn: Callable
    metric_fns: tuple  # ((name, fn), ...)
    tx: optax.GradientTransformation
    augment: Callable | None
    n: int  # training examples
    batch_size: int
    batch_sharding: Any = None  # NamedSharding splitting the batch axis over a mesh, or None
    compute_dtype: Any = None  # e.g. jnp.bfloat16: forward/backward in it, float32 parameters
    trainable: Any = nnx.Param  # the nnx filter of the trained parameters (the rest are frozen)
    penalty: Callable | None = None  # model -> scalar added to every example's loss (objectives.Objective)

    def __post_init__(self):
        # jit hashes its static arguments on every call; a GraphDef's hash walks the graph.
        object.__setattr__(self, "_hash", hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self))))

    def __hash__(self) -> int:
        return self._hash

    @property
    def steps(self) -> int:
        """Steps per epoch: the last partial batch is dropped."""
        return self.n // self.batch_size


def _forward(spec: StepSpec, params, keys, rest, bx, by):
    """The mean loss of one batch and ``(pred, per-example loss, new rest)``."""
    if spec.compute_dtype is None:
        m = nnx.merge(spec.graph, params, keys, rest, copy=True)
        pred = m(bx)
    else:
        # Mixed precision: the float32 parameters are cast for the pass (their gradients come
        # back in float32 through the cast); the loss is taken in float32.
        m = nnx.merge(spec.graph, _cast(params, spec.compute_dtype), keys, rest, copy=True)
        pred = m(bx.astype(spec.compute_dtype)).astype(jnp.float32)
    per = spec.loss_fn(pred, by)
    if spec.penalty is not None:
        # Keras adds its regularisers to the batch's loss; on every example, the mean does too.
        per = per + spec.penalty(m).astype(per.dtype)
    new_rest = jax.tree.map(
        lambda new, old: new.astype(old.dtype), split(m, spec.trainable)[3], rest
    )  # stats stay float32
    return jnp.mean(per), (pred, per, new_rest)


def train_step(spec: StepSpec, state: TrainState, rows, step, data, step_key):
    """One optimizer step on the examples ``rows`` of ``data``: ``(state, (loss, sums))``.

    After a non-finite loss nothing moves: the state keeps the last good values and ``ok``
    turns False.
    """
    bx, by = (scale(a) for a in cdata.take(data, rows))
    if spec.batch_sharding is not None:
        # Data parallel: each device computes on its slice of the batch; XLA's SPMD
        # partitioner inserts the all-reduce of the gradients (and of BatchNorm's moments).
        bx, by = (jax.lax.with_sharding_constraint(a, spec.batch_sharding) for a in (bx, by))
    k = jax.random.fold_in(step_key, step)
    if spec.augment is not None:
        bx = spec.augment(jax.random.fold_in(k, 0), bx)
    keys = reseed(state.rng_keys, jax.random.fold_in(k, 1))
    grad_fn = jax.value_and_grad(functools.partial(_forward, spec), has_aux=True)
    (value, (pred, per, new_rest)), grads = grad_fn(state.params, keys, state.rest, bx, by)
    updates, new_opt = spec.tx.update(grads, state.opt_state, state.params)
    good = state.ok & jnp.isfinite(value)
    state = TrainState(
        _select(good, optax.apply_updates(state.params, updates), state.params),
        keys,
        _select(good, new_rest, state.rest),
        _select(good, new_opt, state.opt_state),
        good,
    )
    sums = {"loss": jnp.sum(per), **{name: jnp.sum(f(pred, by)) for name, f in spec.metric_fns}}
    return state, (value, sums)


def epoch_rows(spec: StepSpec, epoch, shuffle_key):
    """``(steps, batch_size)`` example indices of epoch ``epoch``, shuffled by ``shuffle_key``."""
    key = jax.random.fold_in(shuffle_key, epoch)
    return cdata.epoch_indices(key, spec.n, batch_size=spec.batch_size, remainder="drop")[0]


# At most about this many progress callbacks per epoch: each costs a trip to the host (about
# 0.1 ms on a CPU, a stream synchronisation on a GPU), so a long epoch reports every few steps.
TICKS_PER_EPOCH = 16


def scan_epoch_impl(spec: StepSpec, state: TrainState, epoch, data, shuffle_key, step_key, tick=None):
    """One epoch as one ``lax.scan`` of `train_step`: ``(state, (losses, sums))`` per step.

    ``tick``, when given, is called on the host (``jax.debug.callback``, for a progress bar) with
    the global step number starting each of about `TICKS_PER_EPOCH` equal chunks of the epoch;
    it returns nothing into the program, so the numbers are those of the program without it.
    """
    idx = epoch_rows(spec, epoch, shuffle_key)
    step_ids = epoch * spec.steps + jnp.arange(spec.steps, dtype=jnp.int32)

    def body(s, xs):
        return train_step(spec, s, xs[0], xs[1], data, step_key)

    if tick is None:
        return jax.lax.scan(body, state, (idx, step_ids))
    return _scan_ticking(body, state, (idx, step_ids), tick, -(-spec.steps // TICKS_PER_EPOCH))


def _scan_ticking(body, state, xs, tick, every: int):
    """``lax.scan(body, state, xs)`` as a scan over chunks of ``every`` steps, each first calling
    ``tick(its first step number)``, then a scan of the steps left over (fewer than ``every``)."""
    n = xs[1].shape[0]
    q = n // every

    def chunk(s, c):
        jax.debug.callback(tick, c[1][0])
        return jax.lax.scan(body, s, c)

    head = jax.tree.map(lambda a: a[: q * every].reshape(q, every, *a.shape[1:]), xs)
    state, ys = jax.lax.scan(chunk, state, head)
    ys = jax.tree.map(lambda a: a.reshape(q * every, *a.shape[2:]), ys)
    if q * every == n:
        return state, ys
    state, rest = jax.lax.scan(body, state, jax.tree.map(lambda a: a[q * every :], xs))
    return state, jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, rest)


scan_epoch = jax.jit(scan_epoch_impl, static_argnums=0)
jit_step = jax.jit(train_step, static_argnums=0)
jit_rows = jax.jit(epoch_rows, static_argnums=0)


def per_step_epoch(spec, state, epoch, data, keys, bar=None):
    """One epoch as a Python loop of jitted steps: the same step function as the scan.

    A streaming reader's next batch is read on the host while the device trains on this one.
    With a `progress.Bar`, the step is compiled under its "compiling" and each step is shown
    with the epoch's running mean loss; the loop then stops at the first non-finite loss.
    """
    shuffle_key, step_key = keys
    idx = np.asarray(jit_rows(spec, jnp.int32(epoch), shuffle_key))
    streaming = not isinstance(data, tuple)
    if streaming:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1)
        pending = pool.submit(data.batch, idx[0])
        rows = np.arange(spec.batch_size, dtype=idx.dtype)
    values, sums, total = [], [], 0.0
    try:
        for s in range(spec.steps):
            step = np.int32(epoch * spec.steps + s)
            if streaming:
                batch = jax.device_put(pending.result())
                if s + 1 < spec.steps:
                    pending = pool.submit(data.batch, idx[s + 1])
                args = (spec, state, rows, step, batch, step_key)
            else:
                args = (spec, state, idx[s], step, data, step_key)
            if bar is not None:
                bar.compile(jit_step, *args)
            state, (v, b) = jit_step(*args)
            values.append(v)
            sums.append(b)
            if bar is not None:
                total += float(v)  # the bar synchronises every step anyway
                bar.advance(int(step) + 1, loss=f"{total / (s + 1):.4g}")
                if not bool(state.ok):
                    break  # stop at the first bad step
    finally:
        if streaming:
            pool.shutdown(wait=True, cancel_futures=True)
    return state, (jnp.stack(values), jax.tree.map(lambda *a: jnp.stack(a), *sums))


def eval_sums(graph, fns: dict, data, batch_size: int, model_state) -> dict:
    """Masked per-name sums over every example of ``data`` once (padded last batch), in one scan."""
    n = int(data[0].shape[0])
    idx, mask = cdata.epoch_indices(None, n, batch_size=batch_size, remainder="pad")
    model = nnx.merge(graph, *model_state, copy=True)

    def body(_, batch):
        rows, m = batch
        x, y = cdata.take(data, rows)
        pred, y = model(scale(x)), scale(y)
        return None, {k: jnp.sum(jnp.where(m, f(pred, y), 0)) for k, f in fns.items()}

    _, sums = jax.lax.scan(body, None, (idx, mask))
    return {k: jnp.sum(v) for k, v in sums.items()}


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def jit_eval(graph, fns: tuple, batch_size: int, data, model_state) -> dict:
    """`eval_sums` compiled once per model structure, functions, batch and data shape."""
    return eval_sums(graph, dict(fns), data, batch_size, model_state)


@functools.partial(jax.jit, static_argnums=(0, 1))
def batch_sums(graph, fns: tuple, x, y, mask, model_state) -> dict:
    """Masked per-name sums over one batch, in evaluation mode (the streaming evaluation)."""
    model = nnx.merge(graph, *model_state, copy=True)
    pred, y = model(scale(x)), scale(y)
    return {k: jnp.sum(jnp.where(mask, f(pred, y), 0)) for k, f in fns}


@functools.partial(jax.jit, static_argnames=("graph", "method", "batch_size"))
def apply_batched(graph, state, x, *, method: str = "__call__", batch_size: int):
    """``model.<method>`` over ``x`` in batches of ``batch_size``, one compiled ``lax.map``.

    ``model`` is ``nnx.merge(graph, *state)``; uint8 inputs are scaled to [0, 1]; the last
    batch is padded with copies of the first example and the padding dropped.
    """
    model = nnx.merge(graph, *state, copy=True)
    fn = getattr(model, method)
    n = x.shape[0]
    pad = -n % batch_size
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))]) if pad else x
    out = jax.lax.map(lambda b: fn(scale(b)), xp.reshape((-1, batch_size, *x.shape[1:])))
    return jax.tree.map(lambda o: o.reshape((-1, *o.shape[2:]))[:n], out)
