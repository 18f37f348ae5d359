"""cnnlab.viz image rows and training curves: what is drawn is the data given, bad input is refused."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab import viz
from cnnlab.train import History


def test_to_display_scales_uint8_and_squeezes_one_channel():
    u = np.array([[[[0], [255]], [[51], [102]]]], np.uint8)  # (1, 2, 2, 1)
    np.testing.assert_allclose(viz.to_display(u), [[[0.0, 1.0], [0.2, 0.4]]], rtol=1e-6)
    rgb = np.full((2, 3, 3, 3), 1.5, np.float32)
    assert viz.to_display(rgb).shape == (2, 3, 3, 3) and viz.to_display(rgb).max() == 1.0  # clipped for display
    with pytest.raises(ValueError, match=r"to_display: images must be .*got \(2, 3, 3, 2\)"):
        viz.to_display(np.zeros((2, 3, 3, 2)))


def test_image_rows_draws_each_image_in_its_cell():
    rng = np.random.default_rng(0)
    a, b = rng.random((4, 5, 5, 1)), rng.random((4, 7, 7, 1))
    fig = viz.image_rows([("first", a), ("second", b)], titles=list("wxyz"), title="T")
    axes = np.asarray(fig.axes).reshape(2, 4)
    for r, imgs in enumerate((a, b)):
        for i in range(4):
            np.testing.assert_array_equal(axes[r, i].images[0].get_array(), imgs[i, :, :, 0].astype(np.float32))
    assert [ax.get_title() for ax in axes[0]] == list("wxyz")
    assert axes[1, 0].get_ylabel() == "second"
    plt.close(fig)


def test_image_rows_errors():
    x = np.zeros((3, 4, 4, 1))
    with pytest.raises(ValueError, match=r"same number of images; got \[3, 2\]"):
        viz.image_rows([("a", x), ("b", x[:2])])
    with pytest.raises(ValueError, match="titles must have 3 entries; got 1"):
        viz.image_rows([("a", x)], titles=["t"])
    with pytest.raises(ValueError, match="rows is empty"):
        viz.image_rows([])


def _history(losses, val):
    return History([{"epoch": i + 1, "loss": a, "val_loss": b} for i, (a, b) in enumerate(zip(losses, val))])


def test_compare_histories_plots_train_solid_and_validation_dashed():
    h1, h2 = _history([3, 2, 1], [3.5, 2.5, 2]), _history([4, 3, 2.5], [4, 3.1, 3])
    fig = viz.compare_histories({"one": h1, "two": h2}, ("loss",))
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["one (train)"].get_ydata(), [3, 2, 1])
    np.testing.assert_array_equal(lines["two (validation)"].get_ydata(), [4, 3.1, 3])
    assert lines["one (validation)"].get_linestyle() == "--" and lines["one (train)"].get_linestyle() == "-"
    plt.close(fig)


def test_sweep_curves_mean_and_band():
    seeds = [_history([3, 2], [0, 0]), _history([5, 1], [0, 0]), _history([4, 6], [0, 0])]
    fig = viz.sweep_curves({"g": seeds}, "loss")
    (mean,) = fig.axes[0].get_lines()
    np.testing.assert_allclose(mean.get_ydata(), [4, 3])
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 1 and band[:, 1].max() == 6  # min over seeds at epoch 2, max at epoch 2
    plt.close(fig)


def test_a_one_epoch_run_is_drawn_as_visible_points():
    # One record per run: a line of one point is invisible; its marker is what shows it.
    fig = viz.compare_histories({"one": _history([0.5], [0.6])}, ("loss",))
    for line in fig.axes[0].get_lines():
        assert len(line.get_xdata()) == 1
        assert line.get_marker() not in ("None", "", None, " ") and line.get_markersize() > 0
    plt.close(fig)
    fig = viz.sweep_curves({"g": [_history([1.0], [0]), _history([3.0], [0])]}, "loss")
    (mean,) = fig.axes[0].get_lines()
    assert mean.get_marker() not in ("None", "", None, " ")
    assert mean.get_label() == "g (mean of 2 seeds)"
    plt.close(fig)
