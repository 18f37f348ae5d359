"""Progress of `fit` and `fit_many` on a terminal: one tqdm bar of training steps for the run.

The bar counts steps (of the stack, for `fit_many`) over every epoch of the run, so its ETA is
the run's. A scanned epoch reports its steps from inside the compiled program through a host
callback, `tick` (``core.scan_epoch_impl(..., tick=tick)``, about `core.TICKS_PER_EPOCH` times
an epoch); the per-step loop reports after each step.

Compilation is shown as such: before a program first runs it is compiled ahead of time
(``jitted.lower(...).compile()``, which fills ``jit``'s own cache, so the call that follows
does not compile again) under the description "compiling", its time is written above the
bar, and the bar's clock skips that time, so its rate and ETA count training only.

Off a terminal (or with ``verbose=False``) there is no bar and no callback: the loop runs the
very programs it runs without progress.
"""

import sys
import time

import numpy as np

__all__ = ["Bar", "postfix", "shown", "tick"]

_active = None  # the Bar the ticking programs report to; one run shows progress at a time


def shown(verbose) -> bool:
    """Whether a run shows a bar: ``verbose`` and stderr is a terminal."""
    return bool(verbose) and sys.stderr.isatty()


def tick(step) -> None:
    """The host callback of a ticking scan: global step ``step`` (0-based) is starting.

    Callbacks may arrive out of order (``jax.debug.callback`` is unordered) or, under ``vmap``,
    more than once per step; the bar only ever moves forward to the latest step, so neither shows.
    """
    bar = _active
    if bar is None:
        return
    try:
        bar.advance(int(step))
    except Exception:  # a bar that cannot draw (a closed terminal) must not fail the training program
        pass


class Bar:
    """The run's bar: ``epochs * steps`` steps, the first ``start * steps`` already done (resume).

    A context manager: inside it, `tick` reports to this bar; leaving it closes the bar.
    """

    def __init__(self, fn: str, epochs: int, steps: int, start: int = 0):
        from tqdm.auto import tqdm

        self.fn, self.epochs, self.steps = fn, epochs, steps
        self.desc = fn
        self.compiled = set()  # the programs compiled (or found compiled) in this run
        self.tqdm = tqdm(total=epochs * steps, initial=start * steps, unit="step", desc=fn, leave=True)

    def __enter__(self) -> "Bar":
        global _active
        self.outer, _active = _active, self  # a fit inside another's on_epoch hands the bar back
        return self

    def __exit__(self, *exc) -> None:
        global _active
        _active = self.outer
        self.tqdm.close()

    def begin(self, epoch: int) -> None:
        """Epoch ``epoch`` (0-based) starts: the description names it."""
        self.desc = f"{self.fn} epoch {epoch + 1}/{self.epochs}"
        self.tqdm.set_description(self.desc)

    def advance(self, done: int, **numbers) -> None:
        """``done`` steps of the run are done; ``numbers`` (e.g. the running loss) go in the postfix."""
        if numbers:
            self.tqdm.set_postfix(numbers, refresh=False)
        if done > self.tqdm.n:
            self.tqdm.update(done - self.tqdm.n)

    def end(self, epoch: int, records: list[dict], names: list[str]) -> None:
        """Epoch ``epoch`` is complete: every step counted, its numbers (`postfix`) shown."""
        self.tqdm.set_postfix(postfix(records, names), refresh=False)
        self.advance((epoch + 1) * self.steps)
        self.tqdm.refresh()

    def compile(self, jitted, *args) -> None:
        """Compiles ``jitted`` for ``args`` (once per run) with "compiling" showing, and says how long it took.

        The bar's clock is moved on by that time, so the elapsed time, the rate and the ETA leave it out.
        """
        if jitted in self.compiled:
            return
        self.compiled.add(jitted)
        self.tqdm.set_description(f"{self.fn} compiling")
        t0 = time.perf_counter()
        jitted.lower(*args).compile()
        dt = time.perf_counter() - t0
        self.tqdm.start_t += dt
        self.tqdm.last_print_t += dt
        self.tqdm.write(f"{self.fn}: compiled in {dt:.1f} s", file=sys.stderr)
        self.tqdm.set_description(self.desc)


def postfix(records: list[dict], names: list[str]) -> dict:
    """The bar's numbers: the record of one model; the members' mean (``mean_loss``...) of several."""
    keys = [k for k in records[0] if k in names or k.startswith("val_")]
    if len(records) == 1:
        return {k: f"{records[0][k]:.4g}" for k in keys}
    return {f"mean_{k}": f"{np.nanmean([r[k] for r in records]):.4g}" for k in keys}
