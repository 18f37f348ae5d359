"""plot_histories: the figure's lines are the histories' numbers, labelled by what differs."""

import math

import numpy as np
import pytest

from cnnlab import train


def _history(seed, rate, losses, val_losses, diverged=None):
    records = [
        {"epoch": e + 1, "loss": a, "accuracy": 1 - a / 3, "val_loss": b, "val_accuracy": 1 - b / 3,
         "time_s": 1.0, "examples_per_s": 100.0}
        for e, (a, b) in enumerate(zip(losses, val_losses))
    ]  # fmt: skip
    config = {"seed": seed, "optimizer": {"name": "adam", "learning_rate": rate}}
    if diverged:
        config["diverged_at"] = diverged
    return train.History(records, config)


def test_lines_are_the_histories_numbers_labelled_by_what_differs(tmp_path):
    hs = [
        _history(0, 1e-3, [1.0, 0.5, 0.25], [1.1, 0.6, 0.4]),
        _history(0, 1e-1, [0.9, math.nan, math.nan], [1.0, 2.0, 2.0], diverged={"epoch": 2, "step": 3}),
    ]
    fig = train.plot_histories(hs, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loss_ax, acc_ax = fig.axes  # one panel per quantity: loss, accuracy (timings are not curves)
    assert loss_ax.get_ylabel().startswith("loss") and acc_ax.get_ylabel().startswith("accuracy")
    lines = loss_ax.get_lines()  # per history: training, then validation
    assert len(lines) == 4
    np.testing.assert_array_equal(lines[0].get_ydata(), [1.0, 0.5, 0.25])
    np.testing.assert_array_equal(lines[1].get_ydata(), [1.1, 0.6, 0.4])
    np.testing.assert_array_equal(lines[2].get_ydata(), [0.9, np.nan, np.nan])  # a gap where it was frozen
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert lines[0].get_linestyle() == "-" and lines[1].get_linestyle() == "--"
    # Only the rate differs, so only the rate labels; the frozen run says so.
    legend = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert legend == ["lr 0.001", "lr 0.1, diverged at epoch 2"]
    assert loss_ax.get_yscale() == "linear"  # values within a factor of 100


def test_a_wide_positive_spread_is_drawn_on_a_log_axis(tmp_path):
    hs = [_history(0, 1e-3, [1.0, 0.5], [1.0, 0.6]), _history(0, 30.0, [2e7, 5.0], [3.0, 3.0])]
    fig = train.plot_histories(hs, tmp_path / "s.png")
    assert fig.axes[0].get_yscale() == "log"  # loss: 0.5 to 2e7
    assert fig.axes[1].get_yscale() == "linear"  # accuracy here goes negative: never log


def test_seeds_label_and_saved_histories_plot(tmp_path):
    a, b = _history(0, 1e-3, [1.0, 0.5], [1.0, 0.7]), _history(1, 1e-3, [math.inf, 0.4], [1.0, 0.6])
    b.save(tmp_path / "b.json")  # writes the inf as null
    loaded = train.History.load(tmp_path / "b.json")
    fig = train.plot_histories([a, loaded], tmp_path / "s.png")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["seed 0", "seed 1"]
    np.testing.assert_array_equal(fig.axes[0].get_lines()[2].get_ydata(), [np.nan, 0.4])
    fig = train.plot_histories([a, b], tmp_path / "s.png", labels=["first", "second"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["first", "second"]


def test_bad_input_is_named(tmp_path):
    a = _history(0, 1e-3, [1.0], [1.0])
    with pytest.raises(ValueError, match="non-empty sequence of History"):
        train.plot_histories([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="history 1 has no epochs recorded"):
        train.plot_histories([a, train.History()], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"one label per history \(1\); got 2"):
        train.plot_histories([a], tmp_path / "x.png", labels=["a", "b"])
    other = train.History([{"epoch": 1, "mse": 0.1}])
    with pytest.raises(ValueError, match="share no recorded quantity"):
        train.plot_histories([a, other], tmp_path / "x.png")


def test_a_schedule_or_a_custom_optimizer_labels_by_name(tmp_path):
    # fit records a schedule as "schedule", and a custom optax optimizer has no rate at all.
    constant = _history(0, 1e-3, [1.0, 0.5], [1.1, 0.6])
    cosine = _history(0, "schedule", [0.9, 0.4], [1.0, 0.5])
    custom = train.History(constant.records, {"seed": 0, "optimizer": {"name": "custom"}})
    fig = train.plot_histories([constant, cosine, custom], tmp_path / "rates.png")
    _, labels = fig.axes[0].get_legend_handles_labels()
    assert labels == ["lr 0.001", "lr schedule", "lr None"]
