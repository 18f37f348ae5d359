"""cnnlab.viz.classifiers: errors picked across classes, softmax bars that are the probabilities given,
confusion counts against a plain loop; logits and mismatched inputs are refused."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab.viz import classifiers as vc


def test_pick_mistakes_takes_every_class_before_a_second_of_any():
    # A class-sorted test set: 30 errors of class 0 come first, then 2 of class 1 and 1 of class 2.
    labels = np.array([0] * 40 + [1] * 10 + [2] * 10)
    pred = labels.copy()
    pred[:30] = 5
    pred[[40, 41, 50]] = 7
    picked = vc.pick_mistakes(labels, pred, 5, seed=0)
    assert len(picked) == len(set(picked.tolist())) == 5
    assert np.all(labels[picked] != pred[picked])
    first_three = sorted(labels[picked[:3]].tolist())
    assert first_three == [0, 1, 2]  # one of each class before any class's second
    assert sorted(labels[picked].tolist()) == [0, 0, 1, 1, 2]
    # Fewer errors than asked for: all of them; none: an empty pick.
    assert sorted(vc.pick_mistakes(labels, pred, 100).tolist()) == sorted(np.flatnonzero(labels != pred).tolist())
    assert vc.pick_mistakes(labels, labels, 5).tolist() == []


def test_pick_mistakes_errors():
    with pytest.raises(
        ValueError, match=r"labels and predictions must be \(N,\) arrays of one shape; got \(3,\) and \(2,\)"
    ):
        vc.pick_mistakes(np.zeros(3), np.zeros(2), 1)
    with pytest.raises(ValueError, match=r"n must be a whole number >= 0; got -1"):
        vc.pick_mistakes(np.zeros(3), np.zeros(3), -1)


def test_mistakes_draws_one_bar_per_class_at_the_probability():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=3)
    labels = np.array([0, 1, 2])
    names = ["a", "b", "c", "d"]
    fig = vc.mistakes(rng.integers(0, 256, (3, 5, 5, 1), dtype=np.uint8), labels, p, names, columns=2)
    bar_axes = [ax for ax in fig.axes if ax.get_visible() and ax.patches]
    assert len(bar_axes) == 3
    for ax, row, y in zip(bar_axes, p, labels, strict=True):
        np.testing.assert_allclose([b.get_height() for b in ax.patches], row)
        colours = [b.get_facecolor() for b in ax.patches]
        assert colours[y] == plt.matplotlib.colors.to_rgba("tab:green")
        assert colours[int(row.argmax())] == plt.matplotlib.colors.to_rgba("tab:red") or row.argmax() == y
        assert [t.get_text() for t in ax.get_xticklabels()] == names
        assert ax.get_ylim() == (0.0, 1.0)
    assert bar_axes[0].get_ylabel() == "softmax probability"
    plt.close(fig)


def test_mistakes_refuses_logits_and_mismatched_inputs():
    x = np.zeros((2, 5, 5, 1))
    with pytest.raises(ValueError, match=r"softmax outputs .* not logits"):
        vc.mistakes(x, [0, 1], np.array([[1.26, 4.22], [10.34, 0.0]]), ["a", "b"])
    with pytest.raises(ValueError, match=r"need n images, n labels and \(n, 3\) probabilities; got 2 images, 2 labels"):
        vc.mistakes(x, [0, 1], np.full((2, 2), 0.5), ["a", "b", "c"])


def test_confusion_counts_against_a_loop():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    expected = np.zeros((4, 4), int)
    for a, b in zip(y, p, strict=True):
        expected[a, b] += 1
    np.testing.assert_array_equal(vc.confusion_counts(y, p, 4), expected)
    fig = vc.confusion_matrix(expected, list("wxyz"))
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(expected[expected > 0].tolist())
    plt.close(fig)


def test_kernels_and_outputs_is_seed_003_q11s_grid():
    rng = np.random.default_rng(2)
    k, out = rng.normal(size=(5, 5, 1, 6)), rng.normal(size=(28, 28, 6))
    fig = vc.kernels_and_outputs(k, out, title="Q11")
    axes = np.asarray(fig.axes).reshape(2, 6)
    for i in range(6):
        for ax, img in ((axes[0, i], k[:, :, 0, i]), (axes[1, i], out[..., i])):
            np.testing.assert_array_equal(ax.images[0].get_array(), img)
            lo, hi = ax.images[0].get_clim()
            assert lo == -hi == -np.abs(img).max() and ax.images[0].get_cmap().name == "bwr"
    assert (axes[0, 2].get_title(), axes[1, 2].get_title()) == ("kernel 2", "output 2")
    plt.close(fig)
    with pytest.raises(ValueError, match=r"need \(KH, KW, 1, C\) kernels and \(H, W, C\) outputs with the same C"):
        vc.kernels_and_outputs(k, out[..., :5])
