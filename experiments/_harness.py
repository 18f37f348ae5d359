"""The experiment harness: `Study` and `Run` (data, training, figures, ``metrics.json``, ``report.md``).

A study is a module in `cnnlab.studies` (the repository's ``experiments/`` folder) holding
one `Study` named ``STUDY``, whose ``run`` takes a `Run`. `_runner.run_study` parses the
common options (`_options.add_options`), merges the study's typed config (`StudyConfig`), its ``--quick``
overrides, ``--config FILE`` and the command line into ``run.cfg``, picks the device, and
after ``run`` returns keeps the trained models in ``OUT/models/`` and writes
``OUT/metrics.json`` and ``OUT/report.md``. A study only loads data, trains, draws and
states its numbers:

    def run(r: Run) -> None:
        train, test = r.data("train"), r.data("test")
        model = models.MnistCNN(rngs=nnx.Rngs(r.seed))
        r.fit(model, train, loss="softmax_cross_entropy", optimizer="adam")
        acc = train_lib.evaluate(model, test, loss="softmax_cross_entropy")["accuracy"]
        r.metric(test_accuracy=acc)
        r.compare("test accuracy", acc, 0.982, source="seed 004's notebook")
        r.figure(fig, "curves.png", "Training and validation curves.")

    STUDY = Study("mnist-cnn", "MnistCNN, Adam, 5 epochs", run, config=Config, quick=dict(epochs=1))

Bad options, unwritable directories, unavailable data and unusable checkpoints end in
one line on stderr and exit status 2, not a traceback; the options are all checked
before any data is loaded or anything trains. Training that diverges (the loss NaN,
infinite or exploding) ends in one line and exit status 1. A study whose own check
fails records the metric ``all_ok=False``: the run still writes its results, and exits
with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import _provenance as provenance
from ._config import StudyConfig
from ._report import render_run

__all__ = ["Run", "RunFailed", "Study", "UsageError", "error_line", "plural"]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, the word in the plural unless ``n`` is 1.

    >>> plural(1, "epoch"), plural(3, "epoch"), plural(2, "canvas", "canvases"), plural(4000, "digit")
    ('1 epoch', '3 epochs', '2 canvases', '4,000 digits')
    """
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def error_line(prog: str, message: str) -> str:
    """The one line an error prints: ``PROG: error: MESSAGE``, with a prefix the message repeats removed.

    >>> error_line("cnnlab report", "cnnlab report: no results directory results")
    'cnnlab report: error: no results directory results'
    """
    message = message.strip()
    for prefix in (f"{prog}: error: ", f"{prog}: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return f"{prog}: error: {message}"


class UsageError(Exception):
    """A bad option or unavailable input: printed as one line, exit status 2."""


class RunFailed(Exception):
    """Training stopped (it diverged): printed as one line, exit status 1."""


@dataclasses.dataclass(frozen=True)
class Study:
    """One experiment.

    Attributes:
      name: the name ``cnnlab run`` takes, e.g. ``"mnist-cnn"``.
      summary: one line for ``cnnlab list``.
      run: ``run(r: Run) -> None``; does the work through ``r``.
      config: the study's settings, a frozen `StudyConfig` subclass: each field typed,
        defaulted and documented; ``run`` reads them from ``r.cfg``.
      quick: overrides for ``--quick``: small enough for CI, still on real images.
      reference: the classic study reproduced, in words, for the report.
      data_parallel: whether ``--devices N`` can split its training over devices (False for a
        study that trains its seeds together with `fit_many`).
    """

    name: str
    summary: str
    run: Callable[[Run], None]
    config: type[StudyConfig]
    quick: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    reference: str = ""
    data_parallel: bool = True

    def __post_init__(self):
        if not (isinstance(self.config, type) and issubclass(self.config, StudyConfig)):
            raise TypeError(f"Study {self.name!r}: config must be a StudyConfig subclass; got {self.config!r}")
        self.config(**self.quick)  # quick overrides must be settings of the right types

    @property
    def datasets(self) -> tuple[str, ...]:
        """The ``--dataset`` values the study accepts."""
        return self.config.datasets()

    @property
    def module(self) -> str:
        return "cnnlab.studies." + self.name.replace("-", "_")


class Run:
    """What a study works through: its configuration, data, training, figures and numbers.

    Attributes:
      study: the `Study`.
      cfg: the study's config (its `StudyConfig`): defaults, then ``--quick``, ``--config FILE``,
        ``--set`` and the options.
      quick: whether ``--quick`` was given.
      seed: the ``--seed``.
      out: the output directory (created).
      metrics: the headline numbers, plain names (``test_accuracy``) to floats.
    """

    def __init__(self, study: Study, args: argparse.Namespace, argv: list[str], cfg: StudyConfig):
        self.study = study
        self.quick = bool(args.quick)
        self.verbose = not args.quiet
        self.cfg = cfg
        self.seed = cfg.seed
        self.data_dir = args.data_dir
        # Quick runs have a place of their own: they never land on a full run's results.
        default_out = f"results/quick/{study.name}" if self.quick else f"results/{study.name}"
        if cfg.dataset != study.config.dataset:
            default_out += f"-{cfg.dataset}"
        self.out = Path(args.out or default_out)
        # Full runs checkpoint each epoch into OUT/checkpoints, so --resume continues one that
        # stopped; quick runs (seconds) only with --checkpoint-dir.
        own = not self.quick or args.resume
        ckpt = args.checkpoint_dir or (str(self.out / "checkpoints") if own else None)
        self.checkpoint_dir = None if ckpt is None else Path(ckpt)
        self.resume = bool(args.resume)
        # --force replaces the earlier run in OUT, its checkpoints included.
        self.overwrite = bool(args.overwrite) or (args.force and args.checkpoint_dir is None and not args.resume)
        shown = [a for a in argv if a != "--quiet"]  # the command that reproduces the run
        self.command = " ".join(["cnnlab", "run", study.name, *map(shlex.quote, shown)])
        self.metrics: dict[str, Any] = {}
        self.histories: dict[str, Any] = {}
        self.models: dict[str, Any] = {}
        self.input_shapes: dict[str, tuple] = {}
        self.tensorboard = None if args.tensorboard is None else Path(args.tensorboard)
        self._writers: list = []
        self.references: list[dict] = []
        self.figures: list[dict] = []
        self.sections: list[str] = []
        self.data_info: dict[str, Any] = {}
        self._t0 = time.perf_counter()
        self.run_id = provenance.run_id()
        self.devices: list | None = None  # --devices: fit's data-parallel devices (set by the runner)

    # -- progress ---------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """A progress line on stderr, ``[name] message`` (silent with ``--quiet``)."""
        if self.verbose:
            print(f"[{self.study.name}] {message}", file=sys.stderr, flush=True)

    # -- data -------------------------------------------------------------------------------
    def data(self, split: str = "train", name: str | None = None):
        """Loads ``split`` of ``name`` (default: the configured dataset) with ``--data-dir``.

        The first train and test splits loaded are recorded as the run's ``data``.
        """
        from cnnlab import data as cdata

        name = name or self.cfg.dataset
        self.log(f"loading {name} {split}")
        try:
            if self.data_dir is not None:
                ds = cdata.load(name, split, data_dir=self.data_dir, source="files")
            else:
                ds = cdata.load(name, split)
        except cdata.DataUnavailableError as e:
            if self.data_dir is not None:
                # The files source's own reason says which files it looked for.
                reason = dict(e.tried).get("files") or _first_line(e)
                raise UsageError(f"--data-dir {self.data_dir}: {reason}") from None
            raise UsageError(f"dataset {name!r} is not available here:\n{e}") from None
        except ValueError as e:
            where = f"--data-dir {self.data_dir}: " if self.data_dir is not None else ""
            raise UsageError(where + _first_line(e)) from None
        info = self.data_info
        info.setdefault("name", name)
        if name == info["name"]:
            info.setdefault("source", ds.source)
            info.setdefault(f"n_{split}", int(len(ds.labels)))
        return ds

    # -- training ---------------------------------------------------------------------------
    def check_batch(self, n: int, what: str = "training examples") -> None:
        """A one-line error when the batch size cannot make one batch of ``n`` examples."""
        b = self.cfg.batch_size
        if b > n:
            raise UsageError(f"--batch-size {b} is larger than the {n} {what}; use at most {n}")

    def fit(self, model, train_data, *, tag: str = "model", **kwargs):
        """`cnnlab.train.fit` with the run's epochs, batch size, seed, checkpoints and progress.

        ``tag`` names the model in ``metrics.json``'s ``history`` and its checkpoint
        subdirectory; keyword arguments go to ``fit`` (they override the run's).
        """
        from cnnlab import train

        n = len(train_data[0]) if isinstance(train_data, tuple) else len(train_data.labels)
        self.check_batch(n)
        kw = dict(epochs=self.cfg.epochs, batch_size=self.cfg.batch_size, seed=self.seed)
        kw.update(self.progress(tag, kwargs.get("epochs", kw["epochs"])))
        if self.checkpoint_dir is not None:
            kw.update(self._checkpoint_kw(tag))
        kw.update(kwargs)
        epochs, examples = plural(kw["epochs"], "epoch"), plural(n, "example")
        what = f"{type(model).__name__}, {epochs} of {examples}, batch {kw['batch_size']}"
        if self.devices is not None:
            kw["devices"] = self.devices
            if kw["batch_size"] % len(self.devices):
                raise UsageError(
                    f"--devices {len(self.devices)}: {tag} trains at batch {kw['batch_size']}, "
                    f"which does not split over {len(self.devices)} devices"
                )
            what += f", data-parallel over {plural(len(self.devices), 'device')}"
        self.log(f"training {tag}: {what}")
        history = train.fit(model, train_data, **kw)
        self.histories[tag] = history
        self.keep(model, tag, input_shape=_example_shape(train_data))
        self.log(f"trained {tag}: {_numbers(history.records[-1])} ({sum(history['time_s']):.1f} s)")
        return history

    def fit_many(self, make_model, seeds, train_data, *, tag: str = "sweep", **kwargs):
        """`cnnlab.train.fit_many` with the run's epochs, batch size, checkpoints and progress lines.

        The histories are recorded as ``TAG/seed=S``; returns ``(models, histories)``.
        """
        from cnnlab import train

        if self.devices is not None:  # the runner refuses --devices for such a study; this guards a new one
            raise UsageError(f"--devices: {tag} trains its seeds together on one device (fit_many)")
        n = len(train_data[0]) if isinstance(train_data, tuple) else len(train_data.labels)
        self.check_batch(n)
        kw = dict(epochs=self.cfg.epochs, batch_size=self.cfg.batch_size)
        seeds = list(seeds)
        kw.update(self.progress(tag, kwargs.get("epochs", kw["epochs"]), members=seeds))
        if self.checkpoint_dir is not None:
            kw.update(self._checkpoint_kw(tag))
        kw.update(kwargs)
        self.log(
            f"training {tag}: {plural(len(seeds), 'seed')} at once, {plural(kw['epochs'], 'epoch')} of "
            f"{plural(n, 'example')}"
        )
        t0 = time.perf_counter()
        models, histories = train.fit_many(make_model, seeds, train_data, **kw)
        for s, h, m in zip(seeds, histories, models):
            self.histories[f"{tag}/seed={s}"] = h
            self.keep(m, f"{tag}/seed={s}", input_shape=_example_shape(train_data))
        self.log(f"trained {tag} ({time.perf_counter() - t0:.1f} s)")
        return models, histories

    def progress(self, tag: str, epochs: int, members: list | None = None) -> dict:
        """`fit`'s and `fit_many`'s progress keywords: their bar on a terminal; elsewhere (a log
        file, CI) one line per epoch, with the members' mean for `fit_many` (whose seeds are
        ``members``). With ``--tensorboard DIR``, each epoch's numbers also go to ``DIR/TAG``."""
        kw = {"verbose": self.verbose}
        calls = []
        if self.tensorboard is not None:
            from cnnlab import train

            writer = train.TensorBoard(self.tensorboard, tag=tag.replace("/", "-"), members=members)
            self._writers.append(writer)
            calls.append(writer)
        if self.verbose and not sys.stderr.isatty():

            def line(rec):
                if isinstance(rec, list):  # fit_many: one record per member
                    keys = [k for k in rec[0] if k not in ("epoch", "time_s", "examples_per_s")]
                    kept = [[r[k] for r in rec if r[k] == r[k]] or [float("nan")] for k in keys]  # NaN: frozen
                    mean = {k: sum(v) / len(v) for k, v in zip(keys, kept)}
                    self.log(f"{tag} epoch {rec[0]['epoch']}/{epochs}, mean of {len(rec)}: " + _numbers(mean))
                else:
                    self.log(f"{tag} epoch {rec['epoch']}/{epochs}: " + _numbers(rec))

            calls.append(line)
        if calls:

            def each(rec) -> None:  # returns None: progress and TensorBoard never stop training
                for call in calls:
                    call(rec)

            kw["on_epoch"] = each
        return kw

    def keep(self, model, tag: str, input_shape: tuple | None = None) -> None:
        """Keeps ``model`` as ``OUT/models/TAG`` when the run finishes (`fit` and `fit_many` keep theirs),
        and shows its per-layer table in the report for inputs of ``input_shape`` (one example's)."""
        self.models[tag] = model
        if input_shape is not None:
            self.input_shapes[tag] = tuple(int(d) for d in input_shape)

    def record_history(self, tag: str, history) -> None:
        """Keeps a `History` trained outside `fit` (e.g. by ``fit_many``) for ``metrics.json``."""
        self.histories[tag] = history

    def _checkpoint_kw(self, tag: str) -> dict:
        """fit's checkpoint arguments for the model ``tag`` (only when checkpoints are in use)."""
        path = str((self.checkpoint_dir / tag).resolve())
        return dict(checkpoint_dir=path, resume=self.resume, overwrite=self.overwrite)

    # -- results ----------------------------------------------------------------------------
    def metric(self, **values) -> None:
        """Records headline numbers under plain names (``test_accuracy=0.98``)."""
        for k, v in values.items():
            self.metrics[k] = _plain(v)

    def compare(self, quantity: str, ours: float, reference, *, source: str = "", note: str = "") -> None:
        """A row of the report's table: our number beside the classic study's.

        Args:
          quantity: what is compared, in words ("test accuracy after 5 epochs").
          ours: our number.
          reference: the reference's number, or a goal written as a string (">= 0.993"),
            or None when the original reports none.
          source: where the reference number comes from.
          note: anything a reader needs (different data, fewer epochs).
        """
        self.references.append(
            dict(
                quantity=quantity,
                ours=_plain(ours),
                reference=_plain(reference),
                source=source,
                note=note,
            )
        )

    def figure(self, fig, filename: str, caption: str) -> Path:
        """Saves a matplotlib figure as ``OUT/filename`` (PNG) and shows it in the report with ``caption``."""
        path = self.out / filename
        fig.savefig(path, dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        self.figures.append(dict(file=filename, caption=caption))
        self.log(f"wrote {path}")
        return path

    def section(self, markdown: str) -> None:
        """A paragraph (markdown) for the report, after the table and before the figures."""
        self.sections.append(markdown.strip())

    # -- the end ----------------------------------------------------------------------------
    def _summaries(self) -> list[dict]:
        """Per architecture trained (class, arguments, input shape): its tags and Keras-style layer table."""
        from cnnlab import summary

        tables: dict[str, list[str]] = {}
        for tag, shape in self.input_shapes.items():
            try:
                text = summary.summary(self.models[tag], shape)
            except (TypeError, ValueError) as e:  # a model the table cannot trace: say so, once
                text = f"{type(self.models[tag]).__name__}: no layer table ({_first_line(e)})"
            tables.setdefault(text, []).append(tag)
        return [{"tags": tags, "table": text} for text, tags in tables.items()]

    def finish(self) -> dict:
        """Writes ``metrics.json`` and ``report.md``; returns what ``metrics.json`` holds."""
        import cnnlab.runs

        record = {
            "experiment": self.study.name,
            "summary": self.study.summary,
            "run_id": self.run_id,
            "command": self.command,
            "quick": self.quick,
            "config": _plain(dataclasses.asdict(self.cfg)),
            "data": self.data_info,
            "metrics": self.metrics,
            "references": self.references,
            "history": {k: h.records for k, h in self.histories.items()},
            "figures": self.figures,
            "sections": self.sections,
            "reference": self.study.reference,
            "models": cnnlab.runs.keep_models(self.out, self.models, log=self.log),
            "model_summaries": self._summaries(),
            "versions": provenance.versions(),
            "git_commit": provenance.git_commit(),
            "environment": provenance.environment(),
            "device": provenance.device_description(),
            "data_parallel_devices": 1 if self.devices is None else len(self.devices),
            "wall_seconds": round(time.perf_counter() - self._t0, 2),
            "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        (self.out / "metrics.json").write_text(json.dumps(record, indent=1, default=_plain))
        (self.out / "report.md").write_text(render_run(record))
        return record


def _example_shape(train_data) -> tuple:
    """One training example's shape: of ``x`` in ``(x, y)``, or of a dataset's images."""
    x = train_data[0] if isinstance(train_data, tuple) else train_data.images
    return tuple(x.shape[1:])


def _numbers(record: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "time_s", "examples_per_s"))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _plain(v):
    """JSON-able: NumPy/JAX scalars to Python numbers, arrays to lists, NaN/inf to None."""

    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
