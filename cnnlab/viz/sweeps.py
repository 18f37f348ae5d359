"""Figures of seed sweeps: two setups' final numbers per seed, and the per-seed difference between them."""

from collections.abc import Sequence

import numpy as np

from cnnlab.stats import spread


def _jitter(n: int) -> np.ndarray:
    """Small horizontal offsets that keep ``n`` dots of one column apart."""
    return np.linspace(-0.08, 0.08, n) if n > 1 else np.zeros(1)


def _pairs_panel(ax, seeds, a, b, names, chance) -> None:
    """Left panel: one dot per seed and setup, a grey line joining a seed's two runs, mean ± std beside them."""
    jitter = _jitter(len(seeds))
    for j in range(len(seeds)):
        ax.plot([jitter[j], 1 + jitter[j]], [a[j], b[j]], "-", color="0.7", lw=1, zorder=1)
    for i, (vals, label) in enumerate(((a, names[0]), (b, names[1]))):
        st = spread(vals)
        ax.scatter(
            i + jitter, vals, s=36, color=f"C{i}", zorder=3, label=f"{label}: {st['mean']:.4f} ± {st['std']:.4f}"
        )
        ax.errorbar(i + 0.25, st["mean"], yerr=st["std"], fmt="D", color=f"C{i}", capsize=5, ms=6, zorder=2)
    if chance is not None and min(min(a), min(b)) < chance + 0.1:
        ax.axhline(chance, color="0.4", ls="-.", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xticks([0, 1], list(names))
    ax.set_xlim(-0.5, 1.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def _gains_panel(ax, seeds, gains, gain_label, reference, reference_label) -> None:
    """Right panel: the per-seed difference in points and its mean ± std over ``gain_label``; the reference,
    measured on other data, in a column of its own beside it, never on the same line."""
    jitter, pts, st = _jitter(len(seeds)), 100 * np.asarray(gains), spread(gains)
    ax.scatter(jitter, pts, s=36, color="C2", zorder=3, label="one seed")
    ax.errorbar(0.25, 100 * st["mean"], yerr=100 * st["std"], fmt="D", color="C2", capsize=5, ms=6,
                label=f"mean ± std: {100 * st['mean']:+.2f} ± {100 * st['std']:.2f}")  # fmt: skip
    for s, xj, p in zip(seeds, jitter, pts):
        ax.annotate(f"seed {s}", (xj, p), xytext=(-6, 0), textcoords="offset points", ha="right", va="center",
                    fontsize=7, color="0.35")  # fmt: skip
    ax.axhline(0, color="0.4", ls=":", lw=1)
    ticks, labels = [0.1], [gain_label]
    if reference is not None:
        ax.axvline(0.8, color="0.6", lw=1)
        ax.scatter([1.3], [100 * reference], marker="*", s=160, color="C3", zorder=3,
                   label=f"{100 * reference:+g} points, " + " ".join(reference_label.split()))  # fmt: skip
        ticks.append(1.3)
        labels.append(reference_label)
    ax.set_xticks(ticks, labels, fontsize=8)
    ax.set_xlim(-0.6, 1.8 if reference is not None else 0.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def paired_seeds(
    seeds: Sequence[int],
    a: Sequence[float],
    b: Sequence[float],
    *,
    names: tuple[str, str] = ("a", "b"),
    quantity: str = "test accuracy",
    chance: float | None = None,
    reference: float | None = None,
    reference_label: str = "reference",
    gain_label: str = "ours",
    gain_title: str | None = None,
):
    """Two setups trained on the same seeds: each seed's final numbers, and the gain ``b - a`` per seed.

    Args:
      seeds: the seeds, one per run of each setup (at least 2).
      a, b: the quantity per seed for the first and the second setup, in [0, 1] (accuracies).
      names: the two setups' names.
      quantity: what ``a`` and ``b`` measure, for the axis and title.
      chance: the chance level, drawn when a value comes within 0.1 of it; None: never.
      reference: a published gain ``b - a`` (as a fraction, drawn in points); None: none.
      reference_label: its column's label: whose number, on which data (lines joined by newlines).
      gain_label: the measured gains' column label: the data and setup they come from.
      gain_title: the right panel's title (default: "Gain per seed").

    Returns:
      A matplotlib ``Figure``. Left: a dot per seed and setup, a grey line joining a seed's two
      runs, diamonds with error bars at mean ± sample std (`cnnlab.stats.spread`). Right: the
      gain per seed in points (a dot each, labelled with its seed), its mean ± std and zero
      (dotted) over ``gain_label``; the reference as a star in a column of its own, labelled with
      its own data, so a gain on other data is not read as measured beside it.
    """
    import matplotlib.pyplot as plt

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not len(seeds) == len(a) == len(b) or len(seeds) < 2:
        raise ValueError(f"paired_seeds: seeds, a and b must have one entry per seed, 2 or more; got {len(seeds)}, "
                         f"{len(a)}, {len(b)}")  # fmt: skip
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.5, 4), gridspec_kw=dict(width_ratios=(3, 2)))
    _pairs_panel(ax, seeds, a, b, names, chance)
    ax.set_ylabel(quantity)
    ax.set_title(f"Final {quantity} per seed ({len(seeds)} seeds)")
    _gains_panel(ax2, seeds, b - a, gain_label, reference, reference_label)
    ax2.set_ylabel(f"gain from {names[1]} ({quantity} points)")
    ax2.set_title(gain_title or "Gain per seed")
    fig.tight_layout()
    return fig
