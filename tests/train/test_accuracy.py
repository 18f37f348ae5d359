"""`train.accuracy` per example, for class logits and for per-pixel (segmentation) logits, against NumPy."""

import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import train


def test_classification_accuracy_is_zero_or_one_per_example():
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5], [0.0, 0.0, 4.0]], np.float32)
    labels = np.array([1, 2, 2], np.int32)
    np.testing.assert_array_equal(train.accuracy(jnp.asarray(logits), jnp.asarray(labels)), [1.0, 0.0, 1.0])


def test_pixel_accuracy_is_the_share_of_positions_per_example():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    labels = rng.integers(0, 6, (3, 4, 5)).astype(np.int32)
    want = [np.mean([[np.argmax(logits[b, i, j]) == labels[b, i, j] for j in range(5)] for i in range(4)])
            for b in range(3)]  # fmt: skip
    np.testing.assert_allclose(train.accuracy(jnp.asarray(logits), jnp.asarray(labels)), want, rtol=1e-6)


@pytest.mark.parametrize("logits,labels", [((4,), (4,)), ((4, 3), (4, 3)), ((2, 5, 5, 3), (2, 5))])
def test_shape_mismatch_is_named(logits, labels):
    with pytest.raises(ValueError, match=r"accuracy: needs logits \(B, \.\.\., K\) and integer labels"):
        train.accuracy(jnp.zeros(logits), jnp.zeros(labels, jnp.int32))
