"""`metrics.binary_accuracy`, the `fit` metric of a sigmoid output, against Keras's ``binary_accuracy``."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import metrics


def test_equals_keras_binary_accuracy_per_example():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, (5, 6, 7, 1)).astype(np.float32)
    p[0, 0, 0, 0] = 0.5  # exactly at the threshold: not foreground, as Keras's `>` says
    t = (rng.uniform(0, 1, p.shape) > 0.6).astype(np.float32)
    ours = np.asarray(metrics.binary_accuracy(jnp.asarray(p), jnp.asarray(t)))
    theirs = np.asarray(keras.metrics.binary_accuracy(t, p)).reshape(5, -1).mean(axis=1)  # Keras: per last axis
    assert ours.shape == (5,)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # by hand: all right, all wrong
    assert np.asarray(metrics.binary_accuracy(jnp.full((2, 3), 0.9), jnp.ones((2, 3)))).tolist() == [1.0, 1.0]
    assert np.asarray(metrics.binary_accuracy(jnp.full((2, 3), 0.5), jnp.ones((2, 3)))).tolist() == [0.0, 0.0]


def test_shapes_must_pair():
    with pytest.raises(ValueError, match=r"one shape \(B, ...\); got \(2, 3\) and \(2, 4\)"):
        metrics.binary_accuracy(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
