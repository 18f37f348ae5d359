"""`class_stats` against NumPy's mean and cov; `sample_class` by the moments of many draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.latent import class_stats, sample_class


def test_class_stats_match_numpy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=300).astype(np.int32)
    z = (rng.normal(size=(300, 5)) + labels[:, None]).astype(np.float32)
    means, covs = class_stats(z, labels, 4)
    assert means.shape == (4, 5) and covs.shape == (4, 5, 5)
    for k in range(4):
        zk = z[labels == k].astype(np.float64)
        np.testing.assert_allclose(np.asarray(means[k]), zk.mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(covs[k]), np.cov(zk, rowvar=False), rtol=1e-4, atol=1e-5)


def test_class_stats_flatten_codes():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 2, 3)).astype(np.float32)
    labels = np.repeat(np.arange(2, dtype=np.int32), 20)
    means, covs = class_stats(z, labels, 2)
    assert means.shape == (2, 6) and covs.shape == (2, 6, 6)
    np.testing.assert_allclose(np.asarray(covs[1]), np.cov(z[20:].reshape(20, 6), rowvar=False), rtol=1e-4, atol=1e-5)


def test_class_stats_two_examples_hand_computed():
    z = np.array([[0.0, 0.0], [2.0, 4.0], [5.0, 5.0], [5.0, 5.0]], np.float32)
    means, covs = class_stats(z, np.array([0, 0, 1, 1]), 2)
    np.testing.assert_allclose(np.asarray(means), [[1, 2], [5, 5]])
    # Two points +-(1, 2) about the mean, divided by n - 1 = 1.
    np.testing.assert_allclose(np.asarray(covs), [[[2, 4], [4, 8]], [[0, 0], [0, 0]]], atol=1e-6)


def test_class_stats_errors():
    z = np.zeros((5, 3), np.float32)
    few = r"class_stats: every class needs at least 2 codes.*class\(es\) \[2\] have \[1\]"
    with pytest.raises(ValueError, match=few):
        class_stats(z, np.array([0, 0, 1, 1, 2]), 3)
    with pytest.raises(ValueError, match=r"class\(es\) \[1, 2\] have \[0, 0\]"):
        class_stats(z, np.zeros(5, np.int32), 3)
    with pytest.raises(ValueError, match=r"class_stats: labels must be in \[0, 2\); got values from 0 to 2"):
        class_stats(z, np.array([0, 0, 1, 1, 2]), 2)
    with pytest.raises(ValueError, match=r"class_stats: labels must be \(5,\) to match z"):
        class_stats(z, np.zeros(4, np.int32), 1)
    with pytest.raises(TypeError, match="class_stats: labels must be integers; got float64"):
        class_stats(z, np.zeros(5), 1)
    with pytest.raises(TypeError, match="class_stats: z must be floating; got int32"):
        class_stats(np.zeros((5, 3), np.int32), np.zeros(5, np.int32), 1)
    with pytest.raises(ValueError, match=r"class_stats: z must be codes \(N, \.\.\.\)"):
        class_stats(np.zeros(5, np.float32), np.zeros(5, np.int32), 1)


def test_sample_class_moments():
    means = np.array([[0.0, 0.0, 0.0], [10.0, -5.0, 2.0]], np.float32)
    covs = np.array(
        [np.eye(3), [[4.0, 1.2, 0.0], [1.2, 1.0, -0.3], [0.0, -0.3, 0.5]]],
        np.float32,
    )
    n = 40000
    classes = jnp.asarray(np.tile([0, 1], n), jnp.int32)
    x = np.asarray(sample_class(jax.random.key(0), means, covs, classes), np.float64)
    assert x.shape == (2 * n, 3)
    for k in range(2):
        xk = x[k::2]
        sd = np.sqrt(np.diag(covs[k]))
        # Standard error of a mean is sd / sqrt(n); of a covariance entry about sd_i sd_j sqrt(2 / n).
        np.testing.assert_allclose(xk.mean(0), means[k], atol=5 * sd.max() / np.sqrt(n))
        np.testing.assert_allclose(np.cov(xk, rowvar=False), covs[k], atol=5 * sd.max() ** 2 * np.sqrt(2 / n))


def test_sample_class_singular_covariance_stays_in_its_span():
    # A class with fewer codes than dimensions has a rank-deficient covariance: samples lie on its span.
    rng = np.random.default_rng(2)
    z = rng.normal(size=(3, 6)).astype(np.float32)
    means, covs = class_stats(z, np.zeros(3, np.int32), 1)
    x = np.asarray(sample_class(jax.random.key(1), means, covs, jnp.zeros(5000, jnp.int32)), np.float64)
    assert np.all(np.isfinite(x))
    basis = np.linalg.svd(z - z.mean(0), full_matrices=False)[2][:2]  # the 2-D span of the centred codes
    off = (x - np.asarray(means[0])) - (x - np.asarray(means[0])) @ basis.T @ basis
    assert np.abs(off).max() < 1e-3
    np.testing.assert_allclose(np.cov(x, rowvar=False), np.cov(z, rowvar=False), atol=0.15 * np.abs(covs).max())


def test_sample_class_deterministic_and_errors():
    means, covs = np.zeros((2, 2), np.float32), np.stack([np.eye(2, dtype=np.float32)] * 2)
    a = sample_class(jax.random.key(3), means, covs, jnp.array([0, 1, 1]))
    b = sample_class(jax.random.key(3), means, covs, jnp.array([0, 1, 1]))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match=r"sample_class: classes must be in \[0, 2\); got values from 0 to 2"):
        sample_class(jax.random.key(0), means, covs, jnp.array([0, 2]))
    with pytest.raises(ValueError, match=r"sample_class: covs must be \(K, D, D\) = \(2, 2, 2\)"):
        sample_class(jax.random.key(0), means, covs[:, :1], jnp.array([0]))
    with pytest.raises(ValueError, match=r"sample_class: means must be \(K, D\)"):
        sample_class(jax.random.key(0), means[0], covs, jnp.array([0]))
    with pytest.raises(TypeError, match="sample_class: classes must be integers; got float32"):
        sample_class(jax.random.key(0), means, covs, jnp.array([0.0]))
    with pytest.raises(ValueError, match="sample_class: classes must be a 1-D array"):
        sample_class(jax.random.key(0), means, covs, jnp.array(1))
