"""Reading checkpoints back: a run's newest intact state (resume) and a trained model."""

import os
import warnings

from flax import nnx

from cnnlab.train.checkpoint import Checkpointer, CheckpointError, CorruptCheckpointError

__all__ = ["check_config", "restore_model", "restore_newest"]


def restore_newest(ckpt: Checkpointer, like: dict, check=None) -> tuple[dict, dict] | None:
    """The newest checkpoint that reads back intact, into the structure of ``like``.

    A corrupted one is skipped with a warning and the one before it tried. ``check(where,
    meta)`` may refuse a checkpoint (raising CheckpointError) before its arrays are read.

    Returns:
      ``(state, meta)``, or None when the directory holds no checkpoint.

    Raises:
      CheckpointError: ``check`` refused, the model does not fit, or none is intact.
    """
    epochs, errors = ckpt.epochs(), []
    for epoch in reversed(epochs):
        try:
            if check is not None:
                check(ckpt.path(epoch), ckpt.read_meta(epoch))
            found = ckpt.restore(epoch, like)
        except CorruptCheckpointError as e:
            errors.append(str(e))
            continue
        for e in errors:
            warnings.warn(f"{e}; resuming from {ckpt.path(epoch)} instead", RuntimeWarning, stacklevel=2)
        return found
    if errors:
        raise CorruptCheckpointError(f"restore: no intact checkpoint in {ckpt.directory}: " + "; ".join(errors))
    return None


def check_config(fn: str, where: str, stored: dict, now: dict) -> None:
    """Refuses to resume from a checkpoint whose config differs from this run's in any key of ``now``."""
    for k, v in now.items():
        if k == "optimizer_fingerprint" and stored.get(k) != v:
            raise CheckpointError(
                f"{fn}: cannot resume from {where}: it was trained with other optimizer hyperparameters (a "
                f"different learning rate, schedule or optimizer; {stored.get('optimizer')!r} then, "
                f"{now.get('optimizer')!r} now); use the same optimizer or another checkpoint_dir"
            )
        if stored.get(k) != v:
            raise CheckpointError(
                f"{fn}: cannot resume from {where}: its {k} is {stored.get(k)!r} but this run's is {v!r}; "
                "use the same setting or another checkpoint_dir"
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
            epoch = _best_epoch(ckpt, directory)
        restored, meta = ckpt.restore(epoch, {"model": nnx.to_pure_dict(state)}, partial=True)
    finally:
        ckpt.close()
    nnx.replace_by_pure_dict(state, restored["model"])
    return nnx.merge(graphdef, state), meta


def _best_epoch(ckpt: Checkpointer, directory) -> int:
    """The best epoch by the ``best_metric`` the run was trained with (its newest readable config)."""
    epochs, config = ckpt.epochs(), None
    if not epochs:
        raise CheckpointError(f"restore_model: no finalized checkpoint in {ckpt.directory}")
    for e in reversed(epochs):
        try:
            config = ckpt.read_meta(e)["config"]
            break
        except CorruptCheckpointError as err:
            warnings.warn(f"checkpoint {ckpt.path(e)} skipped: {err}", RuntimeWarning, stacklevel=3)
    if config is None:
        raise CheckpointError(f"restore_model: no readable checkpoint in {ckpt.directory}")
    if not config.get("best_metric"):
        raise CheckpointError(f"restore_model: {ckpt.directory} was written without best_metric; pass an epoch")
    name, mode = config["best_metric"], config.get("best_mode")
    ranked = Checkpointer(directory, read_only=True, best_metric=name, best_mode=mode)
    try:
        best = ranked.best()
    finally:
        ranked.close()
    if best is None:
        raise CheckpointError(f"restore_model: no checkpoint in {ckpt.directory} records {config['best_metric']!r}")
    return best
