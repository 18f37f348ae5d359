"""`History`: what `fit` measured, epoch by epoch; saved as JSON, plotted as PNG."""

import json
import math
import os
from collections.abc import Sequence

import numpy as np

__all__ = ["History", "plot_histories"]

#: Keys that are timings, not curves: they differ between identical runs.
TIMING_KEYS = ("time_s", "examples_per_s")


class History:
    """Per-epoch records, as Keras's ``History.history`` but one dict per epoch.

    Each record holds ``epoch`` (1-based), ``loss`` and each metric on the training data
    (the mean over the epoch's examples, in training mode, as Keras reports them),
    ``val_loss`` / ``val_<metric>`` when there is validation data (evaluation mode),
    ``time_s`` (wall time of the epoch, compilation included) and ``examples_per_s``.

    Attributes:
      records: list of dicts, one per completed epoch.
      config: the run's config (loss, optimizer, batch size, seed, ...), JSON-able.

    Example:
      >>> history = History([{"epoch": 1, "loss": 0.9, "val_accuracy": 0.71},
      ...                    {"epoch": 2, "loss": 0.6, "val_accuracy": 0.78}])
      >>> history["val_accuracy"]          # one number per epoch
      [0.71, 0.78]
      >>> history.keys()
      ['epoch', 'loss', 'val_accuracy']
    """

    def __init__(self, records: Sequence[dict] = (), config: dict | None = None):
        self.records = [dict(r) for r in records]
        self.config = dict(config or {})

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list:
        """The values of ``key`` over the epochs, e.g. ``history["loss"]``."""
        if not self.records or key not in self.records[0]:
            known = sorted(self.records[0]) if self.records else []
            raise KeyError(f"History: no {key!r} recorded; recorded: {known}")
        return [r[key] for r in self.records]

    def keys(self) -> list[str]:
        """The recorded names, ``["epoch", "loss", ...]``."""
        return list(self.records[0]) if self.records else []

    def curves(self) -> list[dict]:
        """The records without the timings: equal for two runs with the same seed."""
        return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in self.records]

    def to_dict(self) -> dict:
        """``{"config": ..., "records": [...]}``, what `save` writes."""
        return {"config": self.config, "records": self.records}

    def save(self, path: str | os.PathLike) -> None:
        """Writes the history as JSON (non-finite numbers as ``null``)."""

        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        data = {"config": self.config, "records": [{k: clean(v) for k, v in r.items()} for r in self.records]}
        with open(path, "w") as f:
            json.dump(data, f, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        """Reads a history written by `save`."""
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict) or "records" not in data:
            raise ValueError(f"History.load: {path} holds no 'records'; it was not written by History.save")
        return cls(data["records"], data.get("config"))

    def plot(self, path: str | os.PathLike) -> None:
        """Writes a PNG (matplotlib, Agg): one panel per quantity, train and validation curves."""
        # A bare Figure renders with Agg and leaves pyplot's global backend alone.
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        if not self.records:
            raise ValueError("History.plot: no epochs recorded")
        names = [k for k in self.keys() if k not in ("epoch", *TIMING_KEYS) and not k.startswith("val_")]
        fig = Figure(figsize=(4.5 * len(names), 3.5))
        axes = fig.subplots(1, len(names), squeeze=False)
        epochs = self["epoch"]
        for ax, name in zip(axes[0], names):
            ax.plot(epochs, self[name], "o-", label="train")
            if f"val_{name}" in self.keys():
                ax.plot(epochs, self[f"val_{name}"], "s--", label="validation")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        return f"History({len(self)} epochs, last={last})"


def _sweep_label(h: "History", varying: set[str]) -> str:
    parts = []
    if "seed" in varying:
        parts.append(f"seed {h.config.get('seed')}")
    if "learning_rate" in varying:
        rate = h.config.get("optimizer", {}).get("learning_rate")  # a number, "schedule" or absent
        parts.append(f"lr {rate:g}" if isinstance(rate, int | float) else f"lr {rate}")
    where = h.config.get("diverged_at")
    if where:
        parts.append(f"diverged at epoch {where['epoch']}")
    return ", ".join(parts)


def plot_histories(histories: Sequence[History], path: str | os.PathLike, *, labels: Sequence[str] | None = None):
    """Writes a PNG comparing runs (a `fit_many` sweep, or any histories): one panel per
    quantity, one colour per run, training solid and validation dashed.

    Args:
      histories: the runs; the panels are the quantities every one of them recorded.
      path: the PNG to write.
      labels: one legend entry per run. By default, what differs between their configs:
        ``"seed 3"``, ``"lr 0.001"`` or both; a run that `fit_many` froze adds
        ``"diverged at epoch e"``. Non-finite values (a frozen run's training curve) and
        ``None`` (how `History.save` stores them) leave gaps.

    Returns:
      The matplotlib ``Figure``, for a notebook to show or adjust.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    histories = list(histories)
    if not histories or not all(isinstance(h, History) for h in histories):
        raise ValueError(f"plot_histories: histories must be a non-empty sequence of History; got {histories!r:.80}")
    empty = [i for i, h in enumerate(histories) if not h.records]
    if empty:
        raise ValueError(f"plot_histories: history {empty[0]} has no epochs recorded")
    if labels is not None and len(labels) != len(histories):
        raise ValueError(
            f"plot_histories: labels must give one label per history ({len(histories)}); got {len(labels)}"
        )
    common = set.intersection(*(set(h.keys()) for h in histories))
    names = [k for k in histories[0].keys() if k in common and k not in ("epoch", *TIMING_KEYS)
             and not k.startswith("val_")]  # fmt: skip
    if not names:
        raise ValueError("plot_histories: the histories share no recorded quantity")
    if labels is None:
        seeds = {h.config.get("seed") for h in histories}
        rates = {json.dumps(h.config.get("optimizer", {}).get("learning_rate")) for h in histories}
        varying = {k for k, v in (("seed", seeds), ("learning_rate", rates)) if len(v) > 1}
        labels = [_sweep_label(h, varying) or f"run {i}" for i, h in enumerate(histories)]

    def values(h, key):
        return [math.nan if v is None else v for v in h[key]]

    fig = Figure(figsize=(4.5 * len(names), 3.5))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for i, (h, label) in enumerate(zip(histories, labels)):
            color = f"C{i % 10}"
            ax.plot(h["epoch"], values(h, name), "o-", color=color, ms=3, label=label)
            if f"val_{name}" in common:
                ax.plot(h["epoch"], values(h, f"val_{name}"), "s--", color=color, ms=3)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name + (" (solid: train, dashed: validation)" if f"val_{name}" in common else ""))
        ax.grid(alpha=0.3)
        shown = np.array([v for h in histories for k in (name, f"val_{name}") if k in common for v in values(h, k)],
                         np.float64)  # fmt: skip
        shown = shown[np.isfinite(shown)]
        if shown.size and shown.min() > 0 and shown.max() / shown.min() >= 100:
            ax.set_yscale("log")  # a diverging rate's losses would flatten everyone else's
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return fig
