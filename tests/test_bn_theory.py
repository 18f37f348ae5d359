"""cnnlab.bn_theory: seed 002's two batch-norm answers, checked against NumPy and hand-computed values."""

import math

import numpy as np
import pytest

from cnnlab import bn_theory

EPS32 = float(np.finfo(np.float32).eps)


def test_batch_norm_is_the_seeds_formula_by_hand():
    z = np.array([[1.0, 2.0], [3.0, 6.0]])  # per column: mean 2 and 4, biased variance 1 and 4
    out = np.asarray(bn_theory.batch_norm(z, gamma=np.array([2.0, 1.0]), beta=np.array([0.0, 5.0])))
    expected = np.array([[2 * -1 / math.sqrt(1.001), 5 - 2 / math.sqrt(4.001)],
                         [2 * 1 / math.sqrt(1.001), 5 + 2 / math.sqrt(4.001)]])  # fmt: skip
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_batch_norm_matches_a_numpy_loop_over_units():
    z = np.random.default_rng(3).normal(2, 3, (16, 5))
    loop = np.empty_like(z)
    for j in range(z.shape[1]):
        col = z[:, j]
        mu = sum(col) / len(col)
        var = sum((v - mu) ** 2 for v in col) / len(col)
        loop[:, j] = (col - mu) / math.sqrt(var + bn_theory.EPSILON)
    np.testing.assert_allclose(np.asarray(bn_theory.batch_norm(z)), loop, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("shape", [(1, 4), (8,), (2, 3, 4)])
def test_batch_norm_refuses_what_is_not_a_batch_of_vectors(shape):
    with pytest.raises(ValueError, match=rf"z must be \(batch >= 2, units\); got shape \({shape[0]}"):
        bn_theory.batch_norm(np.ones(shape))


def test_a_bias_before_batch_norm_changes_nothing_and_learns_nothing():
    rng = np.random.default_rng(0)
    x, w = rng.normal(3, 2.5, (64, 4)), rng.normal(0, 0.5, (4, 5))
    biases = np.array([[0.0] * 5, [0.3, -0.2, 0.1, 0.5, -0.4], [30.0, -20.0, 10.0, 50.0, -40.0]])
    got = bn_theory.bias_redundancy(x, w, biases)
    np.testing.assert_array_equal(got["bias_scale"], [0.0, 0.5, 50.0])
    assert got["max_abs_diff"][0] == 0.0
    # Mathematically zero; in float32, rounding of z + b, of order eps * |b| times the standardized size.
    assert np.all(got["max_abs_diff"] <= 16 * EPS32 * (1 + got["bias_scale"]) * 4)
    # The loss's gradient reaches W (order 1 and more) but not b (rounding only).
    assert np.all(got["grad_w"] > 1.0)
    assert np.all(got["grad_b"] < 1e-4 * got["grad_w"])


def test_a_bias_after_no_normalisation_would_show():
    # The same measurement is able to see a bias: BN with gamma = 0 and beta = b passes b straight through.
    z = np.random.default_rng(1).normal(0, 1, (10, 3))
    b = np.array([1.0, 2.0, 3.0])
    out = np.asarray(bn_theory.batch_norm(z, gamma=0.0, beta=b))
    np.testing.assert_allclose(out, np.broadcast_to(b, z.shape))


def test_sigmoid_linearity_by_hand():
    z = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    got = bn_theory.sigmoid_linearity(z)
    assert got["share_in_band"] == pytest.approx(5 / 7)
    # sigmoid(1) = 0.7310585786: 0.0189414214 below the tangent 1/2 + 1/4; the widest gap inside [-1, 1].
    assert got["max_gap_in_band"] == pytest.approx(0.0189414214, abs=1e-9)
    # Gaps: 0.1192029220 at |z| = 2 (sigmoid 0.8807970780), 0.0189414214 at 1, 0.0025406688 at 1/2 (sigmoid
    # 0.6224593312), 0 at 0.
    assert got["mean_tangent_gap"] == pytest.approx(2 * (0.1192029220 + 0.0189414214 + 0.0025406688) / 7, abs=1e-9)
    s = 1 / (1 + np.exp(-z))
    slope = np.sum(z * (s - s.mean())) / np.sum(z * z)  # least squares, z centred
    r2 = 1 - np.sum((s - s.mean() - slope * z) ** 2) / np.sum((s - s.mean()) ** 2)
    assert got["r2"] == pytest.approx(r2, abs=1e-12)


def test_gamma_and_beta_give_the_input_back():
    z = np.random.default_rng(2).normal(7, 3, (50, 6))
    assert bn_theory.identity_recovery(z) < 8 * EPS32 * np.abs(z).max()


def test_demo_on_the_seeds_batch_answers_both_questions():
    d = bn_theory.demo(rows=20000, seed=1)
    n = bn_theory.numbers(d)
    # Standardized Gaussian values: P(|z| <= 1) = erf(1 / sqrt 2) = 0.6827; binomial sd at 20,000 is 0.0033.
    assert n["sigmoid_share_in_band"] == pytest.approx(math.erf(1 / math.sqrt(2)), abs=0.015)
    # With gamma = 4 the band holds P(|z| <= 1/4) = erf(1 / (4 sqrt 2)) = 0.1974.
    assert n["sigmoid_share_in_band_scaled"] == pytest.approx(math.erf(0.25 / math.sqrt(2)), abs=0.015)
    assert n["sigmoid_r2"] > 0.98 > n["sigmoid_r2_scaled"] + 0.1
    assert n["sigmoid_max_gap_in_band"] <= 0.0189414214 + 1e-9
    assert n["bias_grad_max"] < 1e-5 * n["weight_grad_max"]
    assert n["identity_max_abs_diff"] < 1e-4
    assert np.asarray(d.z).mean(axis=0) == pytest.approx(np.zeros(5), abs=1e-5)
    text = bn_theory.answers(d)
    assert "2.5 * randn(20000, 4) + 3" in text and f"{n['sigmoid_r2']:.3f}" in text


@pytest.mark.parametrize("rows", [1, 2.5, "10"])
def test_demo_needs_a_batch(rows):
    with pytest.raises(ValueError, match=f"rows must be an int >= 2 \\(a batch\\); got {rows!r}"):
        bn_theory.demo(rows)


def test_lag_note_names_the_epochs_where_evaluation_trails_training():
    seed_a = [dict(accuracy=0.40, val_accuracy=0.10), dict(accuracy=0.60, val_accuracy=0.58)]
    seed_b = [dict(accuracy=0.50, val_accuracy=0.20), dict(accuracy=0.70, val_accuracy=0.66)]
    note = bn_theory.lag_note([seed_a, seed_b], 150)
    # Means over the two seeds: epoch 1 0.150 vs 0.450 (lags), epoch 2 0.620 vs 0.650 (within 0.1).
    assert "(epoch 1: 0.150 vs 0.450)" in note and "epoch 2" not in note
    assert "150 steps an epoch" in note and "understates" not in note
    late = bn_theory.lag_note([[dict(accuracy=0.9, val_accuracy=0.1)]], 1)
    assert "1 step an epoch" in late and "This holds at the end too" in late
    assert bn_theory.lag_note([seed_a[1:], seed_b[1:]], 150) == ""
