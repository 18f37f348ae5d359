"""`noise-to-digit`: class-coded noise ranges, the judge on real digits, a quick run.

The measures are tested in tests/test_metrics.py, the figures in tests/viz/test_generators.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import data, metrics, models, train
from cnnlab.models.generators import add_uniform_noise, class_noise
from cnnlab.studies import noise_to_digit as ntd
from tests.experiments._checks import check_run, run_quick


def test_class_noise_ranges():
    classes = np.repeat(np.arange(10), 20)
    z = np.asarray(class_noise(jax.random.key(0), classes, 100))
    assert z.shape == (200, 100) and z.dtype == np.float32
    for k in range(10):
        zk = z[classes == k]
        assert zk.min() >= 100 * k and zk.max() < 100 * k + 100
        # uniform over the whole interval, not a corner of it
        assert zk.min() < 100 * k + 1 and zk.max() > 100 * k + 99
        assert abs(zk.mean() - (100 * k + 50)) < 1.0


def test_class_noise_bad_input():
    with pytest.raises(ValueError, match="classes"):
        class_noise(jax.random.key(0), np.array([0.5, 1.0]), 10)
    with pytest.raises(ValueError, match="noise_dim"):
        class_noise(jax.random.key(0), np.array([0, 1]), 0)


def test_add_uniform_noise_draws_fresh_noise_in_range():
    augment = add_uniform_noise(100.0)
    x = jnp.repeat(jnp.arange(3, dtype=jnp.float32)[:, None] * 100.0, 500, axis=1)
    a, b = np.asarray(augment(jax.random.key(0), x)), np.asarray(augment(jax.random.key(1), x))
    for k in range(3):
        assert a[k].min() >= 100 * k and a[k].max() < 100 * k + 100 and abs(a[k].mean() - (100 * k + 50)) < 5
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="width"):
        add_uniform_noise(0.0)


def test_judge_on_real_digits_equals_test_accuracy():
    tr, te = data.load("mnist"), data.load("mnist", "test")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(tr.labels), 1000, replace=False)
    clf = models.MnistCNN(rngs=nnx.Rngs(0))
    train.fit(clf, (tr.images[pick], tr.labels[pick]), loss="softmax_cross_entropy", optimizer="adam", epochs=1,
              batch_size=50, verbose=False)  # fmt: skip
    accuracy = train.evaluate(clf, te, loss="softmax_cross_entropy")["accuracy"]
    share, per_class, predicted = metrics.judge(clf, te.images, np.asarray(te.labels))
    assert share == pytest.approx(accuracy, abs=1e-6)
    assert 0.3 < share < 1.0  # a partly trained judge: neither chance nor perfect, so the check has teeth
    counts = np.bincount(te.labels, minlength=10)
    assert np.sum(per_class * counts) / counts.sum() == pytest.approx(share)


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
