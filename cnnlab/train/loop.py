"""The epoch loop of `fit` and `fit_many`, written once.

A *trainer* runs the compiled epochs of one model (`fit`) or of a vmapped stack of members
(`fit_many`); this loop does everything around them, for M members alike (M = 1 for `fit`):

- stops at a NaN/inf loss, a parameter that went NaN/inf, or a diverging loss (or, with
  ``freeze``, stops only that member at its last good state and trains the others on);
- writes the history records (training means, validation, timings);
- shows progress (`progress.Bar`: steps, on a terminal), checkpoints on schedule, calls
  ``on_epoch`` and stops early when asked.

The trainer's side is the `Trainer` protocol below. Its arrays carry the members on a leading
axis on the host: a loss per member and step, sums per member and step.
"""

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from cnnlab.train import guards, progress
from cnnlab.train.checkpoint import Checkpointer
from cnnlab.train.guards import DivergenceError, NonFiniteLossError
from cnnlab.train.history import History
from cnnlab.train.options import Checkpointing, LoopOptions
from cnnlab.train.state import TrainState

__all__ = ["EpochLoop", "Trainer"]


class Trainer(Protocol):
    """What the loop needs from `fit`'s single model or `fit_many`'s stack of M members."""

    names: list[str]  # ["loss", *metrics]
    members: int
    steps: int  # per epoch
    batch_size: int

    def epoch(self, state: TrainState, epoch: int, bar: "progress.Bar | None") -> tuple[TrainState, np.ndarray, dict]:
        """Trains epoch ``epoch`` (0-based): the state, losses ``(M, steps)``, sums ``{name: (M, steps)}``.
        With a bar, it compiles under the bar's "compiling" (`progress.Bar.compile`) and reports its steps."""

    def validate(self, state: TrainState) -> dict | None:
        """Validation means ``{name: (M,)}``, or None without validation data."""

    def finite(self, state: TrainState) -> np.ndarray:
        """``(M,)``: whether each member's parameters and statistics are all finite."""

    def freeze(self, state: TrainState, before: TrainState, members: np.ndarray) -> TrainState:
        """``state`` with ``members`` (a ``(M,)`` mask) put back to ``before`` and stopped."""

    def publish(self, state: TrainState) -> None:
        """Writes ``state`` into the model(s)."""

    def member(self, j: int) -> str:
        """Member ``j`` for a message: ``""`` for one model, ``" of seed 3"`` in a stack."""

    def checkpoint(self, state: TrainState, epoch: int, loop: "EpochLoop") -> tuple[Any, dict, dict]:
        """``(arrays, meta, metrics)`` to save as the checkpoint of 1-based ``epoch``."""

    def report(self, records: list[dict]) -> Any:
        """What ``on_epoch`` is called with: the record (one model) or the list of them."""


@dataclasses.dataclass
class EpochLoop:
    """One run's loop: its trainer, options, checkpoints, histories and divergence references."""

    trainer: Trainer
    options: LoopOptions
    histories: list[History]
    checkpointing: Checkpointing = Checkpointing()
    ckpt: Checkpointer | None = None
    references: list = None  # per member: the lowest of the first-step loss and each epoch's mean

    def __post_init__(self):
        if self.references is None:
            self.references = [None] * self.trainer.members

    def train(self, state: TrainState, restore: Callable) -> TrainState:
        """Claims the checkpoint directory, resumes when asked (``restore(loop, state) -> (state,
        first epoch)``) and runs; the checkpoints are closed however it ends."""
        try:
            self.ckpt = self.checkpointing.open(self.options.fn, state[:4])
            start = 0
            if self.checkpointing.resume:
                state, start = restore(self, state)
            return self.run(state, start)
        finally:
            if self.ckpt is not None:
                self.ckpt.close()

    def run(self, state: TrainState, start: int) -> TrainState:
        """Trains epochs ``start`` to ``options.epochs``; the model(s) hold the result."""
        bar = None
        if progress.shown(self.options.verbose):
            bar = progress.Bar(self.options.fn, self.options.epochs, self.trainer.steps, start)
        with bar or contextlib.nullcontext():
            for epoch in range(start, self.options.epochs):
                if bar is not None:
                    bar.begin(epoch)
                state, records = self._epoch(state, epoch, bar)
                if bar is not None:
                    bar.end(epoch, records, self.trainer.names)
                saved = self.checkpointing.due(epoch + 1, self.options.epochs)
                if saved:
                    self._save(state, epoch + 1)
                if self.options.on_epoch is not None and _says_stop(
                    self.options.on_epoch(self.trainer.report([dict(r) for r in records]))
                ):
                    # Stopped early: this epoch is the run's last, so it is checkpointed too.
                    if self.ckpt is not None and not saved:
                        self._save(state, epoch + 1)
                    break
        self.trainer.publish(state)
        return state

    def _epoch(self, state: TrainState, epoch: int, bar: "progress.Bar | None") -> tuple[TrainState, list[dict]]:
        t0, before = time.perf_counter(), state
        running = self._running()
        state, values, sums = self.trainer.epoch(state, epoch, bar)
        self._nonfinite_steps(state, epoch, values, running)
        records = [self._train_record(j, epoch, sums) for j in range(self.trainer.members)]
        if epoch == 0:
            for j in np.flatnonzero(running):
                self._lower(j, float(values[j, 0]))  # the loss of the initial parameters
        state = self._check_states(state, before, epoch, records)
        for j, r in enumerate(records):
            self._lower(j, r["loss"])
        val = self.trainer.validate(state)
        dt = time.perf_counter() - t0
        done = self.trainer.members * self.trainer.steps * self.trainer.batch_size
        for j, (h, r) in enumerate(zip(self.histories, records)):
            if val is not None:
                r.update({f"val_{k}": float(val[k][j]) for k in self.trainer.names})
            r.update(time_s=dt, examples_per_s=done / dt)
            h.records.append(r)
        return state, records

    def _running(self) -> np.ndarray:
        return np.asarray(["diverged_at" not in h.config for h in self.histories])

    def _lower(self, j: int, loss: float) -> None:
        if math.isfinite(loss):
            ref = self.references[j]
            self.references[j] = loss if ref is None else min(ref, loss)

    def _train_record(self, j: int, epoch: int, sums: dict) -> dict:
        seen = self.trainer.steps * self.trainer.batch_size
        if "diverged_at" in self.histories[j].config:  # no training this epoch (or from a step of it on)
            return {"epoch": epoch + 1, **{k: math.nan for k in self.trainer.names}}
        return {
            "epoch": epoch + 1,
            **{k: float(np.sum(sums[k][j], dtype=np.float64)) / seen for k in self.trainer.names},
        }

    def _last(self) -> str | None:
        latest = None if self.ckpt is None else self.ckpt.latest()
        return None if latest is None else self.ckpt.path(latest)

    def _nonfinite_steps(self, state, epoch, values, running) -> None:
        """Members whose loss went NaN/inf this epoch: stop the run, or (``freeze``) that member.
        The step function already held such a member at its last good state from that step on."""
        fn, steps = self.options.fn, self.trainer.steps
        for j in np.flatnonzero(running & ~np.all(np.isfinite(values), axis=1)):
            step = int(np.flatnonzero(~np.isfinite(values[j]))[0])
            if self.options.freeze:
                self.histories[j].config["diverged_at"] = {"epoch": epoch + 1, "step": step + 1}
                continue
            self.trainer.publish(state)
            raise NonFiniteLossError(
                f"{fn}: the loss{self.trainer.member(j)} became {values[j, step]} at epoch {epoch + 1}, step "
                f"{step + 1} of {steps} (global step {epoch * steps + step}); stopped. The model holds the "
                f"parameters from before that step; last good checkpoint: {self._last()}. Lower the learning rate?",
                epoch=epoch + 1,
                step=step + 1,
                history=self.histories[j],
                checkpoint=self._last(),
            )

    def _check_states(self, state, before, epoch, records) -> TrainState:
        """Members whose parameters went non-finite under a finite loss, or whose loss diverged:
        the run stops with the model(s) back at the epoch's start, or (``freeze``) that member does."""
        finite = self.trainer.finite(state)
        running = self._running()
        bad = running & ~finite
        factor = self.options.divergence_factor
        diverged = np.asarray(
            [
                bool(run) and guards.diverged(r["loss"], ref, factor)
                for run, r, ref in zip(running, records, self.references)
            ]
        )
        if not (bad | diverged).any():
            return state
        if self.options.freeze:
            for j in np.flatnonzero(bad | diverged):
                self.histories[j].config["diverged_at"] = {"epoch": epoch + 1, "step": None}
                records[j].update({k: math.nan for k in self.trainer.names})
            return self.trainer.freeze(state, before, bad | diverged)
        self.trainer.publish(before)
        j = int(np.flatnonzero(bad | diverged)[0])
        where = (
            f"stopped before saving it. The model holds the state from the start of epoch {epoch + 1}; "
            f"last good checkpoint: {self._last()}"
        )
        fn, who, kw = (
            self.options.fn,
            self.trainer.member(j),
            dict(epoch=epoch + 1, step=None, history=self.histories[j], checkpoint=self._last()),
        )
        if bad[j]:
            raise NonFiniteLossError(
                f"{fn}: a parameter or batch statistic{who} became NaN/inf during epoch {epoch + 1} while the loss "
                f"stayed finite; {where}. Lower the learning rate?",
                **kw,
            )
        raise DivergenceError(
            f"{fn}: the training loss{who} diverged at epoch {epoch + 1}: its mean {records[j]['loss']:.4g} is over "
            f"divergence_factor={factor:g} times the lowest so far ({self.references[j]:.4g}); {where}. Lower the "
            "learning rate, or raise divergence_factor (None turns the check off)",
            **kw,
        )

    def _save(self, state: TrainState, epoch: int) -> None:
        arrays, meta, metrics = self.trainer.checkpoint(state, epoch, self)
        self.ckpt.save(epoch, arrays, meta, metrics=metrics)


def _says_stop(answer) -> bool:
    """An ``on_epoch`` callback's answer: only a boolean True stops training."""
    return isinstance(answer, bool | np.bool_) and bool(answer)
