"""Checkpoints with orbax: model state, optimizer state, RNG, config, epoch and history.

One checkpoint per saved epoch, in ``DIR/<epoch>/`` with three items: ``state`` (arrays:
``nnx.state(model)``, the optax state, the run's base key), ``meta`` (JSON: config, epoch,
history) and ``checksums`` (the sha256 of every array). orbax writes each into a temporary directory and renames it when
complete (its atomic finalize), so a save killed half way leaves only a
``*.orbax-checkpoint-tmp-*`` directory, which is never listed or restored.

Which checkpoints are intact and which are kept is `retention.CheckpointDirectory`'s part.

Restoring goes into abstract structures (``jax.ShapeDtypeStruct`` leaves, as
``nnx.eval_shape`` gives): before reading, the stored shapes and dtypes are compared
leaf by leaf and any difference is reported with the directory.
"""

import os

import jax
import orbax.checkpoint as ocp

from cnnlab.train import trees
from cnnlab.train.retention import CheckpointDirectory, CheckpointError, CorruptCheckpointError

__all__ = ["CheckpointError", "Checkpointer", "CorruptCheckpointError"]


class Checkpointer(CheckpointDirectory):
    """Saves and restores training state in ``directory``, one subdirectory per epoch.

    Takes the arguments of `CheckpointDirectory` (``directory``, ``keep``, ``best_metric``,
    ``best_mode``, ``read_only``), which lists, checks and retains the checkpoints.
    """

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
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state),
                    meta=ocp.args.JsonSave({**meta, "metrics": metrics}),
                    checksums=ocp.args.JsonSave(trees.checksums(state)),
                ),
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
                f"restore: checkpoint {where} is corrupted: its metadata cannot be read ({e})"
            ) from e
        if stored is None:
            raise CorruptCheckpointError(f"restore: checkpoint {where} is corrupted: it has no state metadata")
        if partial:
            missing = sorted(set(target) - set(stored))
            if missing:
                raise CheckpointError(f"restore: checkpoint {where} holds no {missing}; it holds {sorted(stored)}")
            _check_fits(where, trees.flat({k: stored[k] for k in target}), trees.flat(target))
            full = {
                k: jax.tree.map(lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype), v) for k, v in stored.items()
            }
            target = {**full, **target}
        else:
            _check_fits(where, trees.flat(stored), trees.flat(target))
        try:
            out = self._manager.restore(
                epoch,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(target),
                    meta=ocp.args.JsonRestore(),
                    checksums=ocp.args.JsonRestore(),
                ),
            )
        except Exception as e:
            raise CorruptCheckpointError(f"restore: checkpoint {where} is corrupted: {type(e).__name__}: {e}") from e
        state = {k: out["state"][k] for k in like}
        # orbax does not checksum array data: a flipped bit would restore silently.
        got, stored_sums = trees.checksums(state), out["checksums"] or {}
        bad = sorted(k for k in got if stored_sums.get(k) != got[k])
        if bad:
            raise CorruptCheckpointError(
                f"restore: checkpoint {where} is corrupted: the data of {bad[:8]} does "
                "not match the sha256 recorded when it was saved"
            )
        return trees.data_to_keys(state, like), out["meta"]


def _check_fits(where: str, stored: dict, wanted: dict) -> None:
    """Raises CheckpointError listing what differs between stored and wanted leaves, if anything does."""
    lines = trees.differences(stored, wanted)
    if lines:
        raise CheckpointError(
            f"restore: checkpoint {where} does not match the model being restored into; "
            + "; ".join(lines)
            + ". Was it written for another model or optimizer?"
        )
