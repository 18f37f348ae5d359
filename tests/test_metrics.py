"""`cnnlab.metrics` against hand-counted values and plain NumPy loops (no sklearn)."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import metrics


# -- segmentation -----------------------------------------------------------------------------
def test_iou_against_hand_counted_confusion():
    true = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    # pairs (t, p): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0); class 3 never occurs
    conf = metrics.confusion_matrix(true, pred, 4)
    np.testing.assert_array_equal(conf, [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    iou = metrics.iou_per_class(conf)
    # IoU = TP / (TP + FP + FN): 1/(1+1+1), 2/(2+1+0), 1/(1+0+1), absent
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 1 / 2])
    assert np.isnan(iou[3])
    assert np.nanmean(iou) == pytest.approx(0.5)


def test_iou_perfect_and_disjoint():
    t = np.array([0, 0, 1, 1, 2])
    np.testing.assert_allclose(metrics.iou_per_class(metrics.confusion_matrix(t, t, 3)), [1, 1, 1])
    # everything predicted as class 0: IoU 2/5 for class 0, 0 for the others
    np.testing.assert_allclose(metrics.iou_per_class(metrics.confusion_matrix(t, np.zeros_like(t), 3)), [2 / 5, 0, 0])


def test_confusion_and_iou_against_pixel_loops():
    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 4, (3, 5, 6)), rng.integers(0, 4, (3, 5, 6))
    loop = np.zeros((4, 4), np.int64)
    for t, p in zip(true.ravel(), pred.ravel(), strict=True):
        loop[t, p] += 1
    conf = metrics.confusion_matrix(true, pred, 4)
    np.testing.assert_array_equal(conf, loop)
    for k, iou in enumerate(metrics.iou_per_class(conf)):  # IoU as set sizes: |T & P| / |T | P|
        t, p = true == k, pred == k
        assert iou == pytest.approx((t & p).sum() / (t | p).sum())


def test_confusion_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        metrics.confusion_matrix(np.zeros(3, int), np.zeros(4, int), 2)
    with pytest.raises(ValueError, match="outside"):
        metrics.confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)
    with pytest.raises(TypeError, match="integer"):
        metrics.confusion_matrix(np.zeros(2), np.zeros(2), 2)
    with pytest.raises(ValueError, match="square"):
        metrics.iou_per_class(np.zeros((2, 3)))


@pytest.mark.parametrize("size", [4, 5])  # 16 pixels: exact in float32; 25: up to rounding
def test_pixel_accuracy_against_a_loop_and_the_confusion(size):
    rng = np.random.default_rng(size)
    logits = rng.normal(size=(6, size, size, 3)).astype(np.float32)
    masks = rng.integers(0, 3, (6, size, size)).astype(np.int32)
    hits = [logits[n, i, j].argmax() == masks[n, i, j] for n in range(6) for i in range(size) for j in range(size)]
    acc = metrics.pixel_accuracy(logits, masks)
    assert acc == pytest.approx(np.mean(hits), rel=1e-6)
    conf = metrics.confusion_matrix(masks, logits.argmax(-1), 3)
    if size == 4:
        assert acc == np.trace(conf) / conf.sum()
    with pytest.raises(ValueError, match="accuracy"):
        metrics.pixel_accuracy(logits, masks[:, :-1])


def test_foreground_recall_hand_counted():
    # rows true, columns predicted; class 0 is background. Foreground pixels: 2+1+3 + 1+4+0 = 11.
    conf = np.array([[9, 1, 0], [2, 1, 3], [1, 4, 0]])
    found, named = metrics.foreground_recall(conf)
    assert found == pytest.approx((1 + 3 + 4 + 0) / 11)
    assert named == pytest.approx((1 + 0) / 11)
    # with class 2 as the background, classes 0 and 1 are the objects (9+1+0 + 2+1+3 = 16 pixels)
    found, named = metrics.foreground_recall(conf, background=2)
    assert (found, named) == (pytest.approx((9 + 1 + 2 + 1) / 16), pytest.approx((9 + 1) / 16))


def test_majority_baseline_hand_counted():
    train_masks = np.array([[[1, 1], [1, 0]], [[2, 1], [0, 1]]], np.int32)  # class 1 is the most common
    test_masks = np.array([[[1, 0], [2, 2]]], np.int32)
    majority, acc, miou = metrics.majority_baseline(train_masks, test_masks, 3)
    assert majority == 1 and acc == 0.25
    # IoU: class 0 0/1, class 1 1/4, class 2 0/2
    assert miou == pytest.approx((0 + 1 / 4 + 0) / 3)


# -- generated images -----------------------------------------------------------------------
def test_diversity_and_variance_against_loops():
    rng = np.random.default_rng(1)
    x = rng.random((6, 4, 5, 1))
    pairs = [np.sqrt(np.mean((x[i] - x[j]) ** 2)) for i, j in itertools.combinations(range(6), 2)]
    assert metrics.mean_pairwise_distance(x) == pytest.approx(np.mean(pairs), rel=1e-9)
    ones, zeros = np.ones((1, 3, 3, 1)), np.zeros((1, 3, 3, 1))
    assert metrics.mean_pairwise_distance(np.concatenate([ones, zeros])) == pytest.approx(1.0)
    assert metrics.mean_pairwise_distance(np.repeat(x[:1], 4, 0)) == pytest.approx(0.0, abs=1e-7)
    # uint8 is read as /255: 255 and 0 are 1 apart
    u8 = np.array([np.full((2, 2, 1), 255), np.zeros((2, 2, 1))], np.uint8)
    assert metrics.mean_pairwise_distance(u8) == pytest.approx(1.0)
    # pixel variance of {0, 1} is 1/4 at every pixel; identical images have none
    assert metrics.pixel_variance(np.concatenate([ones, zeros])) == pytest.approx(0.25)
    assert metrics.pixel_variance(np.repeat(x[:1], 3, 0)) == pytest.approx(0.0)
    loop = np.mean([[np.var(x[:, i, j, 0]) for j in range(5)] for i in range(4)])
    assert metrics.pixel_variance(x) == pytest.approx(loop)
    ref = rng.random((4, 5, 1))
    rms = np.mean([np.sqrt(np.mean((x[i] - ref) ** 2)) for i in range(6)])
    assert metrics.rms_distance_to(x, ref) == pytest.approx(rms)


def test_measures_bad_input():
    x = np.random.default_rng(0).random((3, 4, 5, 1))
    with pytest.raises(ValueError, match="reference"):
        metrics.rms_distance_to(x, x[0, :3])
    with pytest.raises(ValueError, match="at least 2"):
        metrics.mean_pairwise_distance(x[:1])
    with pytest.raises(ValueError, match="at least 2"):
        metrics.pixel_variance(x[:1])
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        metrics.pixel_variance(x[..., 0])
    with pytest.raises(TypeError, match="uint8 or floats"):
        metrics.pixel_variance(x.astype(np.int32))


def test_per_class_diversity_against_a_loop():
    rng = np.random.default_rng(2)
    x = rng.random((9, 3, 3, 1))
    classes = np.array([0, 0, 0, 1, 1, 2, 0, 1, 1])  # class 2 once, class 3 never: NaN
    div = metrics.per_class_diversity(x, classes, 4)
    for k in (0, 1):
        members = x[classes == k]
        pairs = [np.sqrt(np.mean((a - b) ** 2)) for a, b in itertools.combinations(members, 2)]
        assert div[k] == pytest.approx(np.mean(pairs))
    assert np.isnan(div[2]) and np.isnan(div[3])
    with pytest.raises(ValueError, match="classes"):
        metrics.per_class_diversity(x, classes[:-1], 4)


# -- judged by a classifier ------------------------------------------------------------------
def test_share_as_intended_known_predictions():
    predicted = np.array([1, 2, 3, 3, 0, 9, 9])
    intended = np.array([1, 2, 0, 3, 0, 9, 4])
    share, per_class = metrics.share_as_intended(predicted, intended, 10)
    assert share == pytest.approx(5 / 7)
    # class 0: one of two right; 1, 2, 3, 9: right; 4: wrong; 5-8 never asked for
    expected = [0.5, 1, 1, 1, 0, np.nan, np.nan, np.nan, np.nan, 1]
    np.testing.assert_allclose(per_class, expected)


def test_share_as_intended_bad_input():
    with pytest.raises(ValueError, match="must be equal"):
        metrics.share_as_intended(np.array([1, 2]), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="outside"):
        metrics.share_as_intended(np.array([1, 10]), np.array([1, 2]))
    with pytest.raises(ValueError, match="integer"):
        metrics.share_as_intended(np.array([1.0, 2.0]), np.array([1, 2]))


class _BrightnessClassifier(nnx.Module):
    """Known predictions: the class is floor(10 * mean pixel), as logits peaking there."""

    def __call__(self, x):
        level = jnp.mean(x, axis=(1, 2, 3)) * 10.0
        return -jnp.abs(jnp.floor(level)[:, None] - jnp.arange(10, dtype=jnp.float32)[None, :])


def _shown(classes, dtype=np.float32):
    """Images whose brightness encodes ``classes`` for `_BrightnessClassifier`."""
    level = (np.asarray(classes) + 0.5) / 10.0
    if dtype == np.uint8:
        return np.broadcast_to((level * 255).round().astype(np.uint8)[:, None, None, None], (len(level), 28, 28, 1))
    return np.broadcast_to(level[:, None, None, None], (len(level), 28, 28, 1)).astype(dtype)


def test_judge_with_known_classifier():
    shown = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 5])
    intended = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 6])
    share, per_class, predicted = metrics.judge(_BrightnessClassifier(), _shown(shown), intended)
    np.testing.assert_array_equal(predicted, shown)
    assert share == pytest.approx(11 / 12)
    assert per_class[6] == pytest.approx(0.5) and per_class[5] == 1.0
    with pytest.raises(ValueError, match="logits"):
        metrics.judge(_BrightnessClassifier(), _shown(shown), intended, num_classes=3)


def test_class_mean_probability_with_known_classifier():
    # Class c's images all have the brightness of c, except class 3's, whose mean reads as a 4.
    labels = np.repeat(np.arange(10), 2)
    shown = labels.copy()
    shown[labels == 3] = 4
    p, share = metrics.class_mean_probability(_BrightnessClassifier(), _shown(shown, np.uint8), labels)
    logits = -np.abs(shown[::2, None] - np.arange(10)[None, :]).astype(np.float64)
    softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(p, softmax[np.arange(10), np.arange(10)], rtol=1e-6)
    assert share == pytest.approx(9 / 10)
