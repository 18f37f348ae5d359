"""A checkpoint directory: its steps, which are intact, and which are kept.

Retention is ours, not orbax's: after each save the latest ``keep`` epochs and the best one
(by ``best_metric``, else by the training loss) are kept, counted over every checkpoint in the
directory (so across resumes too), and the others removed by an atomic rename to
``*.deleting`` before the files go. A kill during retention therefore leaves either the whole
step or a renamed one, which the next writer removes. A step that is still listed but
incomplete (deleted or copied half way by something else) is skipped with a warning, and
removed when the directory is opened for writing.
"""

import contextlib
import logging
import os
import shutil
import tempfile
import warnings

import numpy as np
import orbax.checkpoint as ocp

__all__ = ["CheckpointDirectory", "CheckpointError", "CorruptCheckpointError"]


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted or does not fit the model; the message says which."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's files cannot be read back as they were written."""


# Files every complete step has; a step missing one was deleted or copied half way.
_STEP_FILES = ("_CHECKPOINT_METADATA", "meta/metadata", "state/_METADATA")
_DELETING = ".deleting"


class CheckpointDirectory:
    """The checkpoints in ``directory``, one subdirectory per epoch: listing, integrity, retention.

    `Checkpointer` adds saving and restoring.

    Args:
      directory: where checkpoints live (created if absent).
      keep: how many of the latest checkpoints to keep.
      best_metric: also keep the one best checkpoint by this record key (e.g.
        ``"val_loss"``), or None.
      best_mode: ``"min"`` or ``"max"``; None picks max for names with "accuracy", else min.
      read_only: only read (never create, write or delete); for loading trained models.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        keep: int = 3,
        best_metric: str | None = None,
        best_mode: str | None = None,
        read_only: bool = False,
    ):
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
        # orbax warns, through absl, that a read-only manager is read-only: true, and no news to a user.
        with _absl_quiet() if read_only else contextlib.nullcontext():
            options = ocp.CheckpointManagerOptions(
                enable_async_checkpointing=False,
                cleanup_tmp_directories=False,
                create=False,
                read_only=read_only,
            )
            self._manager = ocp.CheckpointManager(
                self.directory,
                options=options,
                item_handlers={
                    "state": ocp.StandardCheckpointHandler(),
                    "meta": ocp.JsonCheckpointHandler(),
                    "checksums": ocp.JsonCheckpointHandler(),
                },
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
        keep = set(epochs[-self.keep :])
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
            raise CheckpointError(
                f"fit: checkpoint_dir {self.directory} has {free / 2**20:.1f} MiB free; a "
                f"checkpoint needs about {need / 2**20:.1f} MiB. Free some space or choose another "
                "checkpoint_dir"
            )

    def path(self, epoch: int) -> str:
        """The directory of the checkpoint of ``epoch``."""
        return os.path.join(self.directory, str(epoch))

    def read_meta(self, epoch: int) -> dict:
        """The JSON meta (config, epoch, history) of checkpoint ``epoch``."""
        try:
            return self._manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:
            raise CorruptCheckpointError(
                f"restore: checkpoint {self.path(epoch)} is corrupted: cannot read its meta ({e})"
            ) from e

    def close(self) -> None:
        """Waits for pending writes and releases orbax's resources."""
        self._manager.close()


@contextlib.contextmanager
def _absl_quiet():
    """absl's (orbax's) warnings below ERROR are dropped while the block runs."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


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
