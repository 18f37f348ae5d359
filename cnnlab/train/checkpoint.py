"""Checkpoints with orbax: model state, optimizer state, RNG, config, epoch and history.

One checkpoint per saved epoch, in ``DIR/<epoch>/`` with three items: ``state`` (arrays:
``nnx.state(model)``, the optax state, the run's base key), ``meta`` (JSON: config, epoch,
history) and ``checksums`` (the sha256 of every array). orbax writes each into a temporary directory and renames it when
complete (its atomic finalize), so a save killed half way leaves only a
``*.orbax-checkpoint-tmp-*`` directory, which is never listed or restored.

Retention is ours, not orbax's: after each save the latest ``keep`` epochs and the best
one (by ``best_metric``, else by the training loss) are kept, counted over every
checkpoint in the directory (so across resumes too), and the others removed by an atomic
rename to ``*.deleting`` before the files go. A kill during retention therefore leaves
either the whole step or a renamed one, which the next writer removes. A step that is
still listed but incomplete (deleted or copied half way by something else) is skipped
with a warning, and removed when the directory is opened for writing.

Restoring goes into abstract structures (``jax.ShapeDtypeStruct`` leaves, as
``nnx.eval_shape`` gives): before reading, the stored shapes and dtypes are compared
leaf by leaf and any difference is reported with the directory.
"""

import os
import shutil
import tempfile
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp

from cnnlab.train import trees

__all__ = ["CheckpointError", "Checkpointer", "CorruptCheckpointError"]


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted or does not fit the model; the message says which."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's files cannot be read back as they were written."""


# Files every complete step has; a step missing one was deleted or copied half way.
_STEP_FILES = ("_CHECKPOINT_METADATA", "meta/metadata", "state/_METADATA")
_DELETING = ".deleting"


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
        if not read_only:
            _writable(self.directory)
        self.keep, self.best_metric, self.best_mode, self.read_only = keep, best_metric, best_mode, read_only
        self._metrics: dict[int, dict] = {}
        self._warned: set[int] = set()
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=False, cleanup_tmp_directories=False, create=False, read_only=read_only,
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler(),
                           "checksums": ocp.JsonCheckpointHandler()},
        )
        if not read_only:
            self._clean()

    def _clean(self) -> None:
        """Removes what a killed retention left (``*.deleting``) and incomplete steps."""
        for name in os.listdir(self.directory):
            if name.endswith(_DELETING):
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
        self._manager.reload()
        for step in self._manager.all_steps():
            if not self._intact(step):
                self._warn(step, "it is incomplete (killed while being written or deleted?); removing it")
                self.remove(step)

    def _intact(self, step: int) -> bool:
        return all(os.path.isfile(os.path.join(self.path(step), f)) for f in _STEP_FILES)

    def _warn(self, step: int, why: str) -> None:
        if step not in self._warned:
            self._warned.add(step)
            warnings.warn(f"checkpoint {self.path(step)} skipped: {why}", RuntimeWarning, stacklevel=3)

    def epochs(self) -> list[int]:
        """The finalized, complete checkpoints' epochs, oldest first (incomplete ones are
        skipped with a warning)."""
        self._manager.reload()
        steps = sorted(self._manager.all_steps())
        for step in steps:
            if not self._intact(step):
                self._warn(step, "it is incomplete (killed while being written or deleted?)")
        return [s for s in steps if self._intact(s)]

    def latest(self) -> int | None:
        """The latest finalized epoch, or None."""
        steps = self.epochs()
        return steps[-1] if steps else None

    def best(self) -> int | None:
        """The best epoch by ``best_metric`` among those kept, or None."""
        return self._best(self.epochs()) if self.best_metric else None

    def _best(self, epochs: list[int]) -> int | None:
        """The best of ``epochs`` by ``best_metric`` (else the training loss); None if none records it."""
        name = self.best_metric or "loss"
        scores = {e: self.metrics(e).get(name) for e in epochs}
        scores = {e: v for e, v in scores.items() if isinstance(v, float) and np.isfinite(v)}
        if not scores:
            return None
        return (max if self.best_mode == "max" and self.best_metric else min)(scores, key=scores.get)

    def metrics(self, epoch: int) -> dict:
        """The values recorded with checkpoint ``epoch`` (``{}`` if unreadable)."""
        if epoch not in self._metrics:
            try:
                meta = self.read_meta(epoch)
            except CheckpointError:
                return {}
            records = (meta.get("history") or {}).get("records") or [{}]
            self._metrics[epoch] = meta.get("metrics") or records[-1]
        return self._metrics[epoch]

    def remove(self, epoch: int) -> None:
        """Deletes checkpoint ``epoch``: renamed away first (atomic), then its files."""
        gone = os.path.join(self.directory, f"{epoch}{_DELETING}")
        os.replace(self.path(epoch), gone)
        shutil.rmtree(gone)
        self._metrics.pop(epoch, None)
        self._manager.reload()

    def clear(self) -> None:
        """Deletes every checkpoint in the directory (``fit(overwrite=True)``)."""
        self._manager.reload()
        for step in self._manager.all_steps():
            self.remove(step)

    def retain(self) -> None:
        """Removes all but the latest ``keep`` checkpoints and the best one."""
        epochs = self.epochs()
        keep = set(epochs[-self.keep:])
        best = self._best(epochs)
        if best is not None:
            keep.add(best)  # never lose the best one, whatever came after it
        for e in epochs:
            if e not in keep:
                self.remove(e)

    def check_space(self, nbytes: int) -> None:
        """Raises CheckpointError unless the disk has room for a checkpoint of ``nbytes`` of arrays."""
        free = shutil.disk_usage(self.directory).free
        need = int(nbytes * 1.2) + (1 << 20)  # the arrays, their metadata and JSON
        if free < need:
            raise CheckpointError(f"fit: checkpoint_dir {self.directory} has {free / 2**20:.1f} MiB free; a "
                                  f"checkpoint needs about {need / 2**20:.1f} MiB. Free some space or choose another "
                                  "checkpoint_dir")

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
        state = trees.keys_to_data(state)
        metrics = {k: float(v) for k, v in (metrics or {}).items()}
        if os.path.isdir(self.path(epoch)):
            self.remove(epoch)  # a corrupted one that resume skipped: this run rewrites it
        try:
            self._manager.save(
                epoch,
                args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                        meta=ocp.args.JsonSave({**meta, "metrics": metrics}),
                                        checksums=ocp.args.JsonSave(trees.checksums(state))),
                force=True,
            )
            self._manager.wait_until_finished()
        except Exception as e:
            raise CheckpointError(
                f"save: could not write the checkpoint of epoch {epoch} in {self.directory} "
                f"({type(e).__name__}: {e}); the checkpoints already there are intact"
            ) from e
        self._metrics[epoch] = metrics
        self.retain()

    def read_meta(self, epoch: int) -> dict:
        """The JSON meta (config, epoch, history) of checkpoint ``epoch``."""
        try:
            return self._manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:
            raise CorruptCheckpointError(
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
        target = trees.abstract(trees.keys_to_data(like))
        try:
            stored = self._manager.item_metadata(epoch)["state"]
        except Exception as e:  # orbax raises several types for unreadable metadata
            raise CorruptCheckpointError(
                f"restore: checkpoint {where} is corrupted: its metadata cannot be read ({e})") from e
        if stored is None:
            raise CorruptCheckpointError(f"restore: checkpoint {where} is corrupted: it has no state metadata")
        if partial:
            missing = sorted(set(target) - set(stored))
            if missing:
                raise CheckpointError(f"restore: checkpoint {where} holds no {missing}; it holds {sorted(stored)}")
            _check_fits(where, trees.flat({k: stored[k] for k in target}), trees.flat(target))
            full = {k: jax.tree.map(lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype), v)
                    for k, v in stored.items()}
            target = {**full, **target}
        else:
            _check_fits(where, trees.flat(stored), trees.flat(target))
        try:
            out = self._manager.restore(
                epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore(),
                                               checksums=ocp.args.JsonRestore())
            )
        except Exception as e:
            raise CorruptCheckpointError(f"restore: checkpoint {where} is corrupted: {type(e).__name__}: {e}") from e
        state = {k: out["state"][k] for k in like}
        # orbax does not checksum array data: a flipped bit would restore silently.
        got, stored_sums = trees.checksums(state), out["checksums"] or {}
        bad = sorted(k for k in got if stored_sums.get(k) != got[k])
        if bad:
            raise CorruptCheckpointError(f"restore: checkpoint {where} is corrupted: the data of {bad[:8]} does "
                                         "not match the sha256 recorded when it was saved")
        return trees.data_to_keys(state, like), out["meta"]

    def close(self) -> None:
        """Waits for pending writes and releases orbax's resources."""
        self._manager.close()


def _writable(directory: str) -> None:
    """Creates ``directory`` and proves it writable, or raises CheckpointError saying why."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CheckpointError(f"fit: checkpoint_dir {directory} is a file; it needs a directory")
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise CheckpointError(f"fit: cannot write checkpoints in checkpoint_dir {directory}: {e}") from e


def _check_fits(where: str, stored: dict, wanted: dict) -> None:
    """Raises CheckpointError listing what differs between stored and wanted leaves, if anything does."""
    lines = trees.differences(stored, wanted)
    if lines:
        raise CheckpointError(f"restore: checkpoint {where} does not match the model being restored into; "
                              + "; ".join(lines) + ". Was it written for another model or optimizer?")
