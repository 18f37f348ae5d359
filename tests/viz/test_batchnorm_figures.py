"""cnnlab.viz.batchnorm: seed 002's sample grid, its loss/accuracy curves (axis label fixed), the theory figure."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab import bn_theory
from cnnlab.viz import batchnorm as bn_viz


def _history(n):
    return [dict(epoch=e + 1, loss=2.0 / (e + 1), accuracy=0.3 + 0.1 * e, val_loss=2.1 / (e + 1),
                 val_accuracy=0.25 + 0.1 * e) for e in range(n)]  # fmt: skip


def test_loss_and_accuracy_is_the_seeds_figure_with_its_accuracy_axis_named():
    hs = {"baseline": _history(3), "improved": _history(3)}
    fig = bn_viz.loss_and_accuracy(hs, data="cifar10, 50,000 training images")
    axes = np.array(fig.axes).reshape(2, 2)
    for row, name in zip(axes, hs):
        loss, acc = row
        # The seed: training as blue dots ('bo'), validation as a blue line ('b').
        assert [ln.get_label() for ln in loss.lines] == ["Training loss", "Validation loss"]
        assert [ln.get_label() for ln in acc.lines] == ["Training acc", "Validation acc"]
        assert (loss.lines[0].get_marker(), loss.lines[0].get_linestyle()) == ("o", "None")
        np.testing.assert_allclose(acc.lines[1].get_ydata(), [0.25, 0.35, 0.45])
        assert (loss.get_xlabel(), loss.get_ylabel()) == ("Epochs", "Loss")
        assert (acc.get_xlabel(), acc.get_ylabel()) == ("Epochs", "Accuracy")  # the seed's says "Loss"
        assert acc.get_title() == f"{name}: training and validation accuracy"
    assert "seed 002" in fig._suptitle.get_text() and "cifar10" in fig._suptitle.get_text()
    plt.close(fig)


def test_sample_grid_shows_ten_images_with_their_classes():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(30) % 10
    names = tuple(f"class {i}" for i in range(10))
    fig = bn_viz.sample_grid(images, labels, names, seed=4)
    assert len(fig.axes) == 10
    picks = np.random.default_rng(4).choice(30, 10, replace=False)
    for ax, i in zip(fig.axes, picks):
        np.testing.assert_array_equal(ax.images[0].get_array(), images[i])
        assert ax.get_title() == f"class {labels[i]}"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"images must be \(N >= 1, H, W, 1 or 3\); got shape \(30, 32, 32\)"):
        bn_viz.sample_grid(images[..., 0], labels, names)


def test_theory_figure_draws_the_demos_numbers():
    d = bn_theory.demo(rows=200)
    fig = bn_viz.theory(d)
    bias_ax, sigmoid_ax = fig.axes
    diff = bias_ax.lines[0]
    np.testing.assert_allclose(diff.get_xdata(), d.bias["bias_scale"][1:])  # b = 0 has no place on a log axis
    np.testing.assert_allclose(diff.get_ydata(), np.maximum(d.bias["max_abs_diff"][1:], 1e-9))
    assert bias_ax.get_xscale() == bias_ax.get_yscale() == "log"
    legend = [t.get_text() for t in sigmoid_ax.get_legend().get_texts()]
    assert (
        f"BN output, gamma = 1: {d.standardized['share_in_band']:.0%} in band, R² {d.standardized['r2']:.3f}" in legend
    )
    assert sigmoid_ax.get_xlabel() == "z, the batch-normalized pre-activation"
    assert "seed 002" in fig._suptitle.get_text()
    plt.close(fig)
