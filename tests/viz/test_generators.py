"""Generator figures: which images land in which cell, red frames where the judge disagrees, labels and titles."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab.viz.generators import (
    class_grid,
    class_panels,
    first_of_each_class,
    mean_collapse,
    per_class_bars,
    quality_diversity,
)


def _images(n, seed=0, size=6):
    return np.random.default_rng(seed).random((n, size, size, 1))


def test_first_of_each_class_against_a_loop():
    classes = np.array([2, 0, 1, 0, 2, 1, 0, 2, 1])
    loop = []
    for k in range(3):
        loop += [i for i, c in enumerate(classes) if c == k][:2]
    np.testing.assert_array_equal(first_of_each_class(classes, 3, 2), loop)
    with pytest.raises(ValueError, match=r"classes \[1\]"):
        first_of_each_class(np.array([0, 0, 1]), 2, 2)


def test_class_grid_puts_each_class_on_its_row():
    classes = np.repeat(np.arange(3), 3)[::-1]  # 2, 2, 2, 1, 1, 1, 0, 0, 0
    images = _images(9)
    predicted = classes.copy()
    predicted[0] = 0  # the first "2" is read as a 0
    fig = class_grid(images, classes, predicted, 2, "a title", num_classes=3)
    axes = np.array(fig.axes).reshape(3, 2)
    pick = first_of_each_class(classes, 3, 2)
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(axes[i, j].images[0].get_array(), images[pick[2 * i + j], ..., 0])
            assert axes[i, j].texts[0].get_text() == str(predicted[pick[2 * i + j]])
    wrong = axes[2, 0]  # row 2, first column: image 0
    assert wrong.texts[0].get_color() == "red" and wrong.spines["top"].get_edgecolor()[:3] == (1.0, 0.0, 0.0)
    assert axes[1, 0].texts[0].get_color() == "lime"
    assert [axes[i, 0].get_ylabel() for i in range(3)] == ["0", "1", "2"]
    assert fig._suptitle.get_text() == "a title"
    plt.close(fig)


def test_class_panels_one_grid_per_panel():
    classes = np.tile(np.arange(2), 3)
    a, b = _images(6, 1), _images(6, 2)
    wrong = classes.copy()
    wrong[1] = 0
    fig = class_panels([("real", a, classes, classes), ("made", b, classes, wrong)], 2, 3)
    assert len(fig.axes) == 2 * 2 * 3
    second = fig.axes[6:]
    pick = first_of_each_class(classes, 2, 3)
    for n, ax in enumerate(second):
        np.testing.assert_allclose(ax.images[0].get_array(), b[pick[n], ..., 0])
    assert second[3].spines["left"].get_edgecolor()[:3] == (1.0, 0.0, 0.0)  # row 1, column 0 is image 1
    assert fig.axes[1].get_title() == "real" and second[1].get_title() == "made"
    plt.close(fig)


def test_mean_collapse_draws_the_spread():
    real, made = _images(20, 3, 8), _images(16, 4, 8) * 0.01
    fig = mean_collapse(made, real.mean(0), real, made)
    titled = {ax.get_title(): ax for ax in fig.axes}
    np.testing.assert_allclose(titled["pixel std:\nreal test digits"].images[0].get_array(), real.std(0)[..., 0])
    np.testing.assert_allclose(titled["pixel std:\ngenerated"].images[0].get_array(), made.std(0)[..., 0])
    np.testing.assert_allclose(titled["mean training digit"].images[0].get_array(), real.mean(0)[..., 0])
    assert "Phase 1" in fig._suptitle.get_text()
    plt.close(fig)


def test_quality_diversity_points():
    sweep = [(1.0, 0.8, 0.7), (0.5, 0.95, 0.4), (0.0, 0.99, 0.0)]
    fig = quality_diversity(sweep, (0.97, 0.05), 0.9)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0.7, 0.8], [0.4, 0.95], [0.0, 0.99]])
    np.testing.assert_allclose(ax.lines[1].get_xydata(), [[0.05, 0.97]])
    assert [t.get_text() for t in ax.texts] == ["t=1", "t=0.5", "t=0"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "latent Gaussians, temperature t",
        "noise range (phase 2)",
        "real test digits",
        "goal 0.95 (phase 2)",
    ]
    assert ax.get_ylim()[0] == pytest.approx(0.75)
    plt.close(fig)


def test_per_class_bars_heights():
    s2, s3 = np.linspace(0.5, 1, 4), np.linspace(1, 0.2, 4)
    d2, d3, real = np.full(4, 0.01), np.full(4, 0.2), np.full(4, 0.3)
    fig = per_class_bars({"A": s2, "B": s3}, {"A": d2, "B": d3}, real)
    left, right = fig.axes
    np.testing.assert_allclose([p.get_height() for p in left.patches], np.concatenate([s2, s3]))
    np.testing.assert_allclose([p.get_height() for p in right.patches], np.concatenate([real, d2, d3]))
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["real test digits", "A", "B"]
    assert left.get_title() == "Judged as the intended digit" and right.get_ylim()[1] == pytest.approx(0.39)
    plt.close(fig)
