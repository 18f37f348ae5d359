"""Running a study: `run_study` (``cnnlab run NAME``) and `main` (``python -m cnnlab.studies.NAME``).

It checks every option (`_options`), runs the study through a `Run`, turns the library's
failures into one line on stderr (status 2 for unusable input, 1 for training that
diverged), keeps the library's warnings to one each, and prints where the results went.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from cnnlab import compile_cache

from . import _options as options
from ._harness import Run, RunFailed, Study, UsageError, error_line, plural
from ._report import _fmt

__all__ = ["main", "run_study"]


def _prepare(study: Study, args: argparse.Namespace, argv: list[str]) -> Run:
    """Checks every option, creates the output and checkpoint directories, picks the device."""
    options.check_options(args)
    run = Run(study, args, argv, options.resolve_config(study, args))
    options.check_dir("--out", run.out)
    options.check_earlier_run(run.out, force=args.force or args.resume)
    if run.tensorboard is not None:
        options.check_dir("--tensorboard", run.tensorboard)
        options.tensorboard_available()
    if run.checkpoint_dir is not None:
        option = "--checkpoint-dir" if args.checkpoint_dir is not None else "the run's checkpoint directory"
        options.check_dir(option, run.checkpoint_dir)
    options.select_device(args.device)
    run.devices = options.select_devices(study, run.cfg, args.devices)
    compile_cache.enable_from_environment(disabled=args.no_compile_cache)
    return run


def _execute(study: Study, run: Run) -> dict:
    """Runs the study and writes its results; the library's failures become one-line errors."""
    from cnnlab.data import DataUnavailableError
    from cnnlab.train import CheckpointError, DivergenceError

    _quiet_async_echoes()
    run.log(f"writing to {run.out}/" + (" (quick configuration)" if run.quick else ""))
    try:
        with _library_warnings(run.study.name), contextlib.ExitStack() as writers:
            writers.callback(lambda: [w.close() for w in run._writers])
            study.run(run)
    except (CheckpointError, DataUnavailableError) as e:
        # fit speaks in its own keywords; on the command line they are options.
        message = str(e).replace("pass resume=True", "pass --resume").replace("overwrite=True", "--overwrite")
        raise UsageError(message.replace("another checkpoint_dir", "another --checkpoint-dir")) from None
    except DivergenceError as e:  # NonFiniteLossError included
        raise RunFailed(str(e)) from None
    return run.finish()


class _LibraryWarnings(logging.Handler):
    """Prints each distinct warning of cnnlab's loggers once, as ``[name] warning: ...``.

    The library warns each time it is asked (the offline MNIST subset, once per split loaded);
    a run says it once.
    """

    def __init__(self, name: str):
        super().__init__(logging.WARNING)
        self.name_, self.seen = name, set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        message = message.removeprefix(f"{record.name}: ")  # the logger's name is said once, as [name]
        if message in self.seen:
            return
        self.seen.add(message)
        print(f"[{self.name_}] warning: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _library_warnings(name: str):
    """While a study runs, cnnlab's own warnings go to `_LibraryWarnings` (not also to the root logger)."""
    logger = logging.getLogger("cnnlab")
    handler, propagate = _LibraryWarnings(name), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _one_line(e: BaseException) -> str:
    """The message of ``e`` on one line: a multi-line message's lines joined by "; " (by " " after a colon)."""
    parts = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
    line = parts[0]
    for part in parts[1:]:
        line += (" " if line.endswith(":") else "; ") + part
    return line


class _OrbaxTaskEcho(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" for an orbax or tensorstore task: orbax raised
    the error to us already."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A task that only awaited a tensorstore future has no orbax frame: its error names tensorstore.
        if record.exc_info and "tensorstore_spec" in str(record.exc_info[1]):
            return False
        tb = record.exc_info[2] if record.exc_info else None
        while tb is not None:
            if f"{os.sep}orbax{os.sep}" in tb.tb_frame.f_code.co_filename:
                return False
            tb = tb.tb_next
        return True


def _quiet_async_echoes() -> None:
    """Keeps orbax's asynchronous echoes of an error off the terminal (once per process).

    When a checkpoint cannot be read, orbax raises (fit turns that into a `CheckpointError`),
    but its other asyncio tasks also log the same error as never retrieved, and tensorstore's
    threads later call into the closed event loop, which Python reports as unraisable
    "Event loop is closed" errors: hundreds of interleaved lines around the one that matters.
    Other unraisable errors still reach the hook that was there before.
    """
    logger = logging.getLogger("asyncio")
    if not any(isinstance(f, _OrbaxTaskEcho) for f in logger.filters):
        logger.addFilter(_OrbaxTaskEcho())
    before = sys.unraisablehook
    if getattr(before, "cnnlab_quiet", False):
        return

    def hook(unraisable):
        exc = unraisable.exc_value
        if not (isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed"):
            before(unraisable)

    hook.cnnlab_quiet = True
    sys.unraisablehook = hook


def run_study(study: Study, argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Parses ``argv``, runs ``study``, writes its results; returns the exit status.

    Every option is checked before the study starts; bad ones exit with status 2 and one
    line on stderr, as do unavailable data and unusable checkpoints. Training that
    diverges exits with status 1 and one line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog or f"cnnlab run {study.name}", description=study.summary)
    options.add_options(parser)
    args = parser.parse_args(argv)
    try:
        run = _prepare(study, args, argv)
        record = _execute(study, run)
    except (UsageError, RunFailed) as e:
        print(error_line(parser.prog, _one_line(e)), file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    files = ["report.md", "metrics.json", *(f["file"] for f in record["figures"])]
    print(f"{study.name}: done in {record['wall_seconds']:.0f} s; wrote {run.out}/: {', '.join(files)}")
    for row in record["references"]:
        print(f"  {row['quantity']}: {_fmt(row['ours'])} (reference {_fmt(row['reference'])})")
    print(f"  open {run.out}/report.md to see the figures beside the numbers")
    if record["models"]:
        kept = plural(len(record["models"]), "trained model")
        print(f"  {kept} kept in {run.out}/models/: reload with cnnlab.runs.load({str(run.out)!r})")
    if record["metrics"].get("all_ok") is False:
        print(f"{parser.prog}: a check failed (metrics all_ok is false); see {run.out}/report.md", file=sys.stderr)
        return 1
    return 0


def main(study: Study) -> None:
    """``python -m cnnlab.studies.NAME``: run the study with the command line's options."""
    sys.exit(run_study(study, prog=f"python -m {study.module}"))
