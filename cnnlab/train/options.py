"""The option groups of `fit` and `fit_many`, as frozen objects: where and when to checkpoint,
and how the epoch loop runs."""

import dataclasses
import os
from collections.abc import Callable

import jax

from cnnlab.train.checkpoint import Checkpointer, CheckpointError
from cnnlab.train.inputs import check_positive

__all__ = ["Checkpointing", "LoopOptions"]


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """Where and when a run checkpoints; `fit`'s and `fit_many`'s checkpoint arguments."""

    directory: str | os.PathLike | None = None
    every: int = 1
    keep: int = 3
    best_metric: str | None = None
    resume: bool = False
    overwrite: bool = False

    def check(self, fn: str) -> "Checkpointing":
        """Raises ValueError for settings that contradict each other; returns ``self``."""
        check_positive(fn, "checkpoint_every", self.every)
        if self.resume and self.directory is None:
            raise ValueError(f"{fn}: resume=True needs checkpoint_dir")
        if self.resume and self.overwrite:
            raise ValueError(
                f"{fn}: resume=True continues from the checkpoints and overwrite=True deletes them; pass one"
            )
        if self.best_metric is not None and self.directory is None:
            raise ValueError(f"{fn}: best_metric selects checkpoints; it needs checkpoint_dir")
        return self

    @property
    def best_mode(self) -> str | None:
        """``"max"`` for accuracy names, ``"min"`` for others, None without ``best_metric``."""
        return None if self.best_metric is None else ("max" if "accuracy" in self.best_metric else "min")

    def open(self, fn: str, arrays) -> Checkpointer | None:
        """The run's `Checkpointer`, its directory claimed before anything trains: another run's
        checkpoints are refused unless resuming or told to overwrite; the disk must have room."""
        if self.directory is None:
            return None
        ckpt = Checkpointer(self.directory, keep=self.keep, best_metric=self.best_metric, best_mode=self.best_mode)
        try:
            existing = ckpt.epochs()
            if existing and not self.resume:
                if not self.overwrite:
                    raise CheckpointError(
                        f"{fn}: checkpoint_dir {ckpt.directory} already holds checkpoints of epochs {existing}; "
                        "pass resume=True to continue from them, overwrite=True to delete them and start "
                        "afresh, or another checkpoint_dir"
                    )
                ckpt.clear()
            ckpt.check_space(sum(getattr(a, "nbytes", 0) for a in jax.tree.leaves(arrays)))
        except BaseException:
            ckpt.close()
            raise
        return ckpt

    def due(self, epoch: int, epochs: int) -> bool:
        """Whether 1-based ``epoch`` of ``epochs`` is checkpointed."""
        return self.directory is not None and (epoch % self.every == 0 or epoch == epochs)


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """How the loop runs; the rest of `fit`'s and `fit_many`'s arguments."""

    fn: str  # "fit" or "fit_many", for messages
    epochs: int
    divergence_factor: float | None = 100.0
    freeze: bool = False  # a member whose loss goes NaN/inf or diverges stops alone; others train on
    verbose: bool = True
    on_epoch: Callable | None = None
