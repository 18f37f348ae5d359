"""cnnlab.viz.sweeps.paired_seeds: every seed's dots, the mean ± std bars, the gains in points, labelled."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab.viz import sweeps


def test_paired_seeds_draws_each_seed_and_the_spread():
    seeds, a, b = [3, 4, 5], [0.60, 0.62, 0.55], [0.64, 0.61, 0.60]
    fig = sweeps.paired_seeds(
        seeds, a, b, names=("plain", "batch norm"), chance=0.1, reference=0.03,
        reference_label="seed 002:\nCIFAR-10", gain_label="ours:\nfashion_mnist", gain_title="Gain",
    )  # fmt: skip
    left, right = fig.axes
    # One grey line per seed joining its two runs, at x = 0 and x = 1 (give or take the jitter).
    joins = [ln for ln in left.lines if ln.get_color() == "0.7"]
    assert [tuple(ln.get_ydata()) for ln in joins] == list(zip(a, b))
    dots = [c.get_offsets() for c in left.collections if c.get_offsets().shape == (3, 2)]
    np.testing.assert_allclose(dots[0][:, 1], a)
    np.testing.assert_allclose(dots[1][:, 1], b)
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert legend[0] == f"plain: {np.mean(a):.4f} ± {np.std(a, ddof=1):.4f}"
    assert not any("chance" in t for t in legend)  # every value is far above chance
    assert (left.get_ylabel(), left.get_title()) == ("test accuracy", "Final test accuracy per seed (3 seeds)")
    # Right: gains in points, each dot annotated with its seed, under their data's label; the reference,
    # measured on other data, is a star at +3 in a column of its own with its own label, not a line across ours.
    gains = 100 * (np.asarray(b) - np.asarray(a))
    np.testing.assert_allclose(right.collections[0].get_offsets()[:, 1], gains)
    assert [t.get_text() for t in right.texts] == ["seed 3", "seed 4", "seed 5"]
    points = np.concatenate([c.get_offsets() for c in right.collections if np.shape(c.get_offsets())[-1:] == (2,)])
    star = points[points[:, 0] > 0.8]  # right of the separator: only the reference
    np.testing.assert_allclose(star[:, 1], [3.0])
    assert not any(tuple(ln.get_ydata()) == (3.0, 3.0) for ln in right.lines)
    assert [t.get_text() for t in right.get_xticklabels()] == ["ours:\nfashion_mnist", "seed 002:\nCIFAR-10"]
    assert "+3 points, seed 002: CIFAR-10" in [t.get_text() for t in right.get_legend().get_texts()]
    assert right.get_title() == "Gain"
    assert right.get_ylabel() == "gain from batch norm (test accuracy points)"
    plt.close(fig)


def test_paired_seeds_draws_chance_when_near_and_refuses_mismatches():
    fig = sweeps.paired_seeds([0, 1], [0.12, 0.15], [0.5, 0.55], chance=0.1)
    assert any("chance (0.10)" == t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plt.close(fig)
    with pytest.raises(ValueError, match="one entry per seed, 2 or more; got 2, 3, 2"):
        sweeps.paired_seeds([0, 1], [0.1, 0.2, 0.3], [0.1, 0.2])
