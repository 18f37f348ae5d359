"""Checkpoints with orbax: model state, optimizer state, RNG, config, epoch and history.

One checkpoint per saved epoch, in ``DIR/<epoch>/`` with two items: ``state`` (arrays:
``nnx.state(model)``, the optax state, the run's base key) and ``meta`` (JSON: config,
epoch, history). orbax writes each into a temporary directory and renames it when
complete (its atomic finalize), so a save killed half way leaves only a
``*.orbax-checkpoint-tmp-*`` directory, which is never listed or restored.

Restoring goes into abstract structures (``jax.ShapeDtypeStruct`` leaves, as
``nnx.eval_shape`` gives): before reading, the stored shapes and dtypes are compared
leaf by leaf and any difference is reported with the directory.
"""

import hashlib
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx
from orbax.checkpoint import checkpoint_managers as policies

__all__ = ["CheckpointError", "Checkpointer", "restore_model"]


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted or does not fit the model; the message says which."""


def _is_key(x) -> bool:
    return isinstance(x, jax.Array | jax.ShapeDtypeStruct) and jax.dtypes.issubdtype(
        x.dtype, jax.dtypes.prng_key
    )


def _keys_to_data(tree):
    """Typed PRNG keys -> their uint32 data (orbax stores plain arrays)."""
    def conv(x):
        if not _is_key(x):
            return x
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.eval_shape(jax.random.key_data, x)
        return jax.random.key_data(x)
    return jax.tree.map(conv, tree)


def _data_to_keys(tree, like):
    """Inverse of `_keys_to_data`, taking each key's implementation from ``like``."""
    def conv(x, t):
        if not _is_key(t):
            return x
        # An abstract key (nnx.eval_shape) carries no implementation: use the default one.
        impl = jax.random.key_impl(t) if isinstance(t, jax.Array) else None
        return jax.random.wrap_key_data(x, impl=impl)
    return jax.tree.map(conv, tree, like)


def _abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), tree)


def _flat(tree) -> dict[str, tuple]:
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = "/".join(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))) for p in path)
        out[name] = (tuple(leaf.shape), np.dtype(leaf.dtype).name)
    return out


class Checkpointer:
    """Saves and restores training state in ``directory``, one subdirectory per epoch.

    Args:
      directory: where checkpoints live (created if absent).
      keep: how many of the latest checkpoints to keep.
      best_metric: also keep the one best checkpoint by this record key (e.g.
        ``"val_loss"``), or None.
      best_mode: ``"min"`` or ``"max"``; None picks max for names with "accuracy", else min.
      read_only: only read (never create, write or delete); for loading trained models.
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int = 3, best_metric: str | None = None,
                 best_mode: str | None = None, read_only: bool = False):
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"Checkpointer: keep must be a positive int; got {keep!r}")
        if best_mode is None:
            best_mode = "max" if best_metric and "accuracy" in best_metric else "min"
        if best_mode not in ("min", "max"):
            raise ValueError(f"Checkpointer: best_mode must be 'min' or 'max'; got {best_mode!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        if read_only and not os.path.isdir(self.directory):
            raise CheckpointError(f"restore: no finalized checkpoint in {self.directory}: it does not exist")
        self.best_metric = best_metric
        keepers = [policies.LatestN(n=keep)]
        if best_metric is not None:
            # BestN sorts ascending and keeps the tail: reverse for "min".
            keepers.append(policies.BestN(get_metric_fn=lambda m: m[best_metric],
                                          reverse=best_mode == "min", n=1))
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policies.AnyPreservationPolicy(keepers),
            enable_async_checkpointing=False,
            cleanup_tmp_directories=False,
            create=not read_only,
            read_only=read_only,
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler(),
                           "checksums": ocp.JsonCheckpointHandler()},
        )

    def epochs(self) -> list[int]:
        """The finalized checkpoints' epochs, oldest first."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def latest(self) -> int | None:
        """The latest finalized epoch, or None."""
        steps = self.epochs()
        return steps[-1] if steps else None

    def best(self) -> int | None:
        """The best epoch by ``best_metric`` among those kept, or None."""
        return self._manager.best_step() if self.best_metric else None

    def path(self, epoch: int) -> str:
        """The directory of the checkpoint of ``epoch``."""
        return os.path.join(self.directory, str(epoch))

    def save(self, epoch: int, state: dict, meta: dict, metrics: dict | None = None) -> None:
        """Writes ``state`` (a pytree of arrays) and ``meta`` (JSON-able) as ``epoch``."""
        if self.best_metric is not None and (metrics is None or self.best_metric not in metrics):
            raise ValueError(
                f"Checkpointer.save: best_metric {self.best_metric!r} is not among the epoch's "
                f"values {sorted(metrics or {})}; pass val_data for a val_* metric"
            )
        state = _keys_to_data(state)
        self._manager.save(
            epoch,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta),
                                    checksums=ocp.args.JsonSave(_checksums(state))),
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            force=True,
        )
        self._manager.wait_until_finished()

    def read_meta(self, epoch: int) -> dict:
        """The JSON meta (config, epoch, history) of checkpoint ``epoch``."""
        try:
            return self._manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:
            raise CheckpointError(
                f"restore: checkpoint {self.path(epoch)} is corrupted: cannot read its meta ({e})"
            ) from e

    def restore(self, epoch: int | None, like: dict, *, partial: bool = False) -> tuple[dict, dict]:
        """Reads checkpoint ``epoch`` (None: the latest) into the structure of ``like``.

        Args:
          epoch: which checkpoint.
          like: a dict of pytrees of arrays or ``jax.ShapeDtypeStruct`` with the structure,
            shapes and dtypes the stored state must have.
          partial: restore only the top-level items of ``like`` (e.g. ``"model"`` without
            the optimizer state); the others are read and dropped.

        Returns:
          ``(state, meta)``.

        Raises:
          CheckpointError: none stored, corrupted, or shapes/dtypes/structure differ.
        """
        if epoch is None:
            epoch = self.latest()
            if epoch is None:
                raise CheckpointError(f"restore: no finalized checkpoint in {self.directory}")
        elif epoch not in self.epochs():
            raise CheckpointError(
                f"restore: no checkpoint of epoch {epoch} in {self.directory}; it has {self.epochs()}"
            )
        where = self.path(epoch)
        target = _abstract(_keys_to_data(like))
        try:
            stored = self._manager.item_metadata(epoch)["state"]
        except Exception as e:  # orbax raises several types for unreadable metadata
            raise CheckpointError(f"restore: checkpoint {where} is corrupted: its metadata cannot be read ({e})") from e
        if stored is None:
            raise CheckpointError(f"restore: checkpoint {where} is corrupted: it has no state metadata")
        if partial:
            missing = sorted(set(target) - set(stored))
            if missing:
                raise CheckpointError(f"restore: checkpoint {where} holds no {missing}; it holds {sorted(stored)}")
            _compare(where, _flat({k: stored[k] for k in target}), _flat(target))
            full = {k: jax.tree.map(lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype), v)
                    for k, v in stored.items()}
            target = {**full, **target}
        else:
            _compare(where, _flat(stored), _flat(target))
        try:
            out = self._manager.restore(
                epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore(),
                                               checksums=ocp.args.JsonRestore())
            )
        except Exception as e:
            raise CheckpointError(f"restore: checkpoint {where} is corrupted: {type(e).__name__}: {e}") from e
        state = {k: out["state"][k] for k in like}
        # orbax does not checksum array data: a flipped bit would restore silently.
        got, stored_sums = _checksums(state), out["checksums"] or {}
        bad = sorted(k for k in got if stored_sums.get(k) != got[k])
        if bad:
            raise CheckpointError(
                f"restore: checkpoint {where} is corrupted: the data of {bad[:8]} does not match the "
                f"sha256 recorded when it was saved"
            )
        return _data_to_keys(state, like), out["meta"]

    def close(self) -> None:
        """Waits for pending writes and releases orbax's resources."""
        self._manager.close()


def _checksums(tree) -> dict[str, str]:
    """sha256 of every leaf's bytes, by path."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p): hashlib.sha256(np.ascontiguousarray(np.asarray(v)).tobytes()).hexdigest()
            for p, v in leaves}


def _compare(where: str, stored: dict, wanted: dict) -> None:
    missing = sorted(set(wanted) - set(stored))
    extra = sorted(set(stored) - set(wanted))
    differ = [f"{k}: stored {stored[k][0]} {stored[k][1]}, needed {wanted[k][0]} {wanted[k][1]}"
              for k in sorted(set(stored) & set(wanted)) if stored[k] != wanted[k]]
    if missing or extra or differ:
        lines = []
        if missing:
            lines.append(f"missing from the checkpoint: {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if extra:
            lines.append(f"not in the model: {extra[:8]}{' ...' if len(extra) > 8 else ''}")
        lines += differ[:8]
        raise CheckpointError(
            f"restore: checkpoint {where} does not match the model being restored into; "
            + "; ".join(lines) + ". Was it written for another model or optimizer?"
        )


def restore_model(model: nnx.Module, directory: str | os.PathLike, *, epoch: int | str | None = None):
    """Loads the model state of a `fit` checkpoint.

    Args:
      model: a model of the architecture that was trained; an abstract one from
        ``nnx.eval_shape(lambda: Model(rngs=nnx.Rngs(0)))`` works and allocates nothing
        until the arrays are read.
      directory: the ``checkpoint_dir`` given to `fit`.
      epoch: an epoch, ``"best"`` (by fit's ``best_metric``), or None for the latest.

    Returns:
      ``(model, meta)``: a model (``nnx.merge`` of ``model``'s graph and the stored state)
      and the checkpoint's meta: ``config``, ``epoch``, ``history``.
    """
    graphdef, state = nnx.split(model)
    ckpt = Checkpointer(directory, read_only=True)
    try:
        if epoch == "best":
            epoch = _best_epoch(ckpt)
        restored, meta = ckpt.restore(epoch, {"model": nnx.to_pure_dict(state)}, partial=True)
    finally:
        ckpt.close()
    nnx.replace_by_pure_dict(state, restored["model"])
    return nnx.merge(graphdef, state), meta


def _best_epoch(ckpt: Checkpointer) -> int:
    epochs = ckpt.epochs()
    if not epochs:
        raise CheckpointError(f"restore_model: no finalized checkpoint in {ckpt.directory}")
    metas = {e: ckpt.read_meta(e) for e in epochs}
    config = metas[epochs[-1]]["config"]
    name, mode = config.get("best_metric"), config.get("best_mode")
    if not name:
        raise CheckpointError(f"restore_model: {ckpt.directory} was written without best_metric; pass an epoch")
    scores = {e: m["history"]["records"][-1][name] for e, m in metas.items()}
    return (min if mode == "min" else max)(scores, key=scores.get)
