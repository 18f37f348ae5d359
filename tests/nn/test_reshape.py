"""`nn.Reshape`: Keras's `layers.Reshape` (the oracle), per example, row-major; bad shapes named."""

import jax.numpy as jnp
import keras
import numpy as np
import pytest

from cnnlab import nn
from tests.nn.keras_oracle import keras_call


@pytest.mark.parametrize(
    "in_shape,target", [((3, 28, 28), (28, 28, 1)), ((2, 4, 6, 1), (6, 4, 1)), ((5, 12), (2, 3, 2))]
)
def test_reshape_matches_keras_and_numpy(in_shape, target):
    x = np.random.default_rng(0).normal(size=in_shape).astype(np.float32)
    got = np.asarray(nn.Reshape(target)(jnp.asarray(x)))
    np.testing.assert_array_equal(got, x.reshape((in_shape[0], *target)))
    np.testing.assert_array_equal(got, keras_call(keras.layers.Reshape(target), x))


def test_reshape_literal_order():
    """Row-major within each example: [[0, 1], [2, 3]] -> [0, 1, 2, 3], example by example."""
    x = jnp.arange(8, dtype=jnp.float32).reshape(2, 2, 2)
    np.testing.assert_array_equal(nn.Reshape((4,))(x), [[0, 1, 2, 3], [4, 5, 6, 7]])


def test_reshape_errors_name_what_they_got_and_need():
    with pytest.raises(ValueError, match=r"Reshape: shape must be a non-empty tuple of positive ints, got \[28, 28\]"):
        nn.Reshape([28, 28])
    with pytest.raises(ValueError, match=r"Reshape: shape must be .*, got \(28, 0\)"):
        nn.Reshape((28, 0))
    with pytest.raises(
        ValueError, match=r"with 784 values per example to become \(N, \*\(28, 28, 1\)\), got \(2, 27, 28\)"
    ):
        nn.Reshape((28, 28, 1))(jnp.zeros((2, 27, 28)))
    with pytest.raises(ValueError, match=r"got \(784,\)"):
        nn.Reshape((28, 28, 1))(jnp.zeros(784))
