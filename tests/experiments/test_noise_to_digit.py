"""`noise-to-digit`: class-coded noise ranges, the judge's share on known inputs, diversity, a quick run."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import data, models, train
from cnnlab.studies import noise_to_digit as ntd
from tests.experiments._checks import check_run, run_quick


def test_class_noise_ranges():
    classes = np.repeat(np.arange(10), 20)
    z = np.asarray(ntd.class_noise(jax.random.key(0), classes, 100))
    assert z.shape == (200, 100) and z.dtype == np.float32
    for k in range(10):
        zk = z[classes == k]
        assert zk.min() >= 100 * k and zk.max() < 100 * k + 100
        # uniform over the whole interval, not a corner of it
        assert zk.min() < 100 * k + 1 and zk.max() > 100 * k + 99
        assert abs(zk.mean() - (100 * k + 50)) < 1.0


def test_class_noise_bad_input():
    with pytest.raises(ValueError, match="classes"):
        ntd.class_noise(jax.random.key(0), np.array([0.5, 1.0]), 10)
    with pytest.raises(ValueError, match="noise_dim"):
        ntd.class_noise(jax.random.key(0), np.array([0, 1]), 0)


def test_share_as_intended_known_predictions():
    predicted = np.array([1, 2, 3, 3, 0, 9, 9])
    intended = np.array([1, 2, 0, 3, 0, 9, 4])
    share, per_class = ntd.share_as_intended(predicted, intended, 10)
    assert share == pytest.approx(5 / 7)
    # class 0: one of two right; 1, 2, 3, 9: right; 4: wrong; 5-8 never asked for
    expected = [0.5, 1, 1, 1, 0, np.nan, np.nan, np.nan, np.nan, 1]
    np.testing.assert_allclose(per_class, expected)


def test_share_as_intended_bad_input():
    with pytest.raises(ValueError, match="must be equal"):
        ntd.share_as_intended(np.array([1, 2]), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="outside"):
        ntd.share_as_intended(np.array([1, 10]), np.array([1, 2]))
    with pytest.raises(ValueError, match="integer"):
        ntd.share_as_intended(np.array([1.0, 2.0]), np.array([1, 2]))


class _BrightnessClassifier(nnx.Module):
    """Known predictions: the class is floor(10 * mean pixel), as logits peaking there."""

    def __call__(self, x):
        level = jnp.mean(x, axis=(1, 2, 3)) * 10.0
        return -jnp.abs(jnp.floor(level)[:, None] - jnp.arange(10, dtype=jnp.float32)[None, :])


def test_judge_with_known_classifier():
    shown = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 5])  # the class each image's brightness encodes
    images = np.broadcast_to(((shown + 0.5) / 10.0)[:, None, None, None], (12, 28, 28, 1)).astype(np.float32)
    intended = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 6])
    share, per_class, predicted = ntd.judge(_BrightnessClassifier(), images, intended)
    np.testing.assert_array_equal(predicted, shown)
    assert share == pytest.approx(11 / 12)
    assert per_class[6] == pytest.approx(0.5) and per_class[5] == 1.0


def test_judge_on_real_digits_equals_test_accuracy():
    tr, te = data.load("mnist"), data.load("mnist", "test")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(tr.labels), 1000, replace=False)
    clf = models.MnistCNN(rngs=nnx.Rngs(0))
    train.fit(clf, (tr.images[pick], tr.labels[pick]), loss="softmax_cross_entropy", optimizer="adam", epochs=1,
              batch_size=50, verbose=False)  # fmt: skip
    accuracy = train.evaluate(clf, te, loss="softmax_cross_entropy")["accuracy"]
    share, per_class, predicted = ntd.judge(clf, te.images, np.asarray(te.labels))
    assert share == pytest.approx(accuracy, abs=1e-6)
    assert 0.3 < share < 1.0  # a partly trained judge: neither chance nor perfect, so the check has teeth
    counts = np.bincount(te.labels, minlength=10)
    assert np.sum(per_class * counts) / counts.sum() == pytest.approx(share)


def test_diversity_and_variance_against_loops():
    rng = np.random.default_rng(1)
    x = rng.random((6, 4, 5, 1))
    pairs = [np.sqrt(np.mean((x[i] - x[j]) ** 2)) for i, j in itertools.combinations(range(6), 2)]
    assert ntd.mean_pairwise_distance(x) == pytest.approx(np.mean(pairs), rel=1e-9)
    ones, zeros = np.ones((1, 3, 3, 1)), np.zeros((1, 3, 3, 1))
    assert ntd.mean_pairwise_distance(np.concatenate([ones, zeros])) == pytest.approx(1.0)
    assert ntd.mean_pairwise_distance(np.repeat(x[:1], 4, 0)) == pytest.approx(0.0, abs=1e-7)
    # uint8 is read as /255: 255 and 0 are 1 apart
    u8 = np.array([np.full((2, 2, 1), 255), np.zeros((2, 2, 1))], np.uint8)
    assert ntd.mean_pairwise_distance(u8) == pytest.approx(1.0)
    # pixel variance of {0, 1} is 1/4 at every pixel; identical images have none
    assert ntd.pixel_variance(np.concatenate([ones, zeros])) == pytest.approx(0.25)
    assert ntd.pixel_variance(np.repeat(x[:1], 3, 0)) == pytest.approx(0.0)
    loop = np.mean([[np.var(x[:, i, j, 0]) for j in range(5)] for i in range(4)])
    assert ntd.pixel_variance(x) == pytest.approx(loop)
    ref = rng.random((4, 5, 1))
    rms = np.mean([np.sqrt(np.mean((x[i] - ref) ** 2)) for i in range(6)])
    assert ntd.rms_distance_to(x, ref) == pytest.approx(rms)
    with pytest.raises(ValueError, match="reference"):
        ntd.rms_distance_to(x, ref[:3])
    with pytest.raises(ValueError, match="at least 2"):
        ntd.mean_pairwise_distance(x[:1])


def test_quick_run_reports(tmp_path):
    record = run_quick(ntd.STUDY, tmp_path)
    names = ("phase1_variance_ratio", "judge_test_accuracy", "phase2_share_as_intended", "latent_share_as_intended")
    check_run(tmp_path, "noise-to-digit", metrics=names, data_name="mnist")
    m, h = record["metrics"], record["history"]
    # Phase 1 collapses: its outputs vary far less than real digits do.
    assert m["phase1_variance_ratio"] < 0.2
    assert m["phase1_rms_to_mean"] < m["real_rms_to_mean"]
    # The judge learned; class-coded noise lets phase 2 fit its targets better than unrelated noise.
    assert m["judge_test_accuracy"] > 0.5
    assert h["phase2"][-1]["loss"] < h["phase1"][-1]["loss"]
    for key in ("phase2_share_as_intended", "latent_share_as_intended"):
        assert 0.0 <= m[key] <= 1.0
    assert m["latent_share_as_intended"] > 0.2  # well above the 0.1 of chance even after a short training
