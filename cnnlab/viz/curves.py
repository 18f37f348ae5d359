"""Training curves: several runs on one figure, and the mean and spread of seed sweeps.

Every point carries a marker, so a run of one epoch (a single point per curve) is still seen.
"""

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["compare_histories", "sweep_curves"]


def _records(h) -> list[dict]:
    return h.records if hasattr(h, "records") else list(h)


def _epoch_axis(ax, key: str) -> None:
    """Epochs on x (integer ticks), ``key`` in words on y, a light grid, the legend."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " "))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def compare_histories(
    histories: Mapping[str, object],
    keys: Sequence[str] = ("loss",),
    *,
    title: str | None = None,
    val_label: str = "validation",
):
    """One panel per quantity; each run's training curve solid and validation curve dashed.

    Args:
      histories: label -> `cnnlab.train.History` (or its list of records).
      keys: quantities, e.g. ``("loss", "accuracy")``; ``val_<key>`` is drawn when recorded.
      title: the figure's title.
      val_label: what the ``val_*`` curves are called in the legend (e.g. ``"test"``).

    Returns:
      A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (label, h) in enumerate(histories.items()):
            rec = _records(h)
            ep = [r["epoch"] for r in rec]
            color = f"C{i}"
            if key in rec[0]:
                ax.plot(ep, [r[key] for r in rec], "o-", ms=3, color=color, label=f"{label} (train)")
            if f"val_{key}" in rec[0]:
                values = [r[f"val_{key}"] for r in rec]
                ax.plot(ep, values, "s--", ms=3, color=color, label=f"{label} ({val_label})")
        _epoch_axis(ax, key)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def sweep_curves(groups: Mapping[str, Sequence[object]], key: str, *, title: str | None = None):
    """Mean and min-max band over seeds of ``key`` per epoch, one colour per group.

    Args:
      groups: label -> the histories of that group's seeds (same number of epochs).
      key: the quantity, e.g. ``"val_accuracy"``.

    Returns:
      A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (label, hs) in enumerate(groups.items()):
        values = np.array([[r[key] for r in _records(h)] for h in hs], dtype=float)
        ep = np.arange(1, values.shape[1] + 1)
        mean = values.mean(0)
        seeds = f"{len(hs)} seed" + ("" if len(hs) == 1 else "s")
        ax.plot(ep, mean, "o-", ms=3, color=f"C{i}", label=f"{label} (mean of {seeds})")
        ax.fill_between(ep, values.min(0), values.max(0), color=f"C{i}", alpha=0.2)
    _epoch_axis(ax, key)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
