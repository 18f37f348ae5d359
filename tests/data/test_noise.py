"""cnnlab.data.salt_and_pepper_mse: the expected squared error of the noise, by hand and by sampling it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import data


def test_hand_computed_values():
    x = np.zeros((3, 2, 2, 1))
    x[1] = 1.0  # white: only pepper (p_low) changes it, by 1
    x[2, 0, 0, 0] = 0.5  # one grey pixel: (0.2 * 0.25 + 0.1 * 0.25) / 4, the rest black
    got = data.salt_and_pepper_mse(x, p_high=0.2, p_low=0.1)
    assert got.dtype == np.float64 and got.shape == (3,)
    np.testing.assert_allclose(got, [0.2, 0.1, (0.2 * 0.25 + 0.1 * 0.25 + 3 * 0.2) / 4], rtol=1e-12)


def test_matches_the_mean_of_sampled_noise():
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    keys = jax.random.split(jax.random.key(0), 2000)
    noisy = jax.vmap(lambda k: data.salt_and_pepper(k, jnp.asarray(x), p_high=0.15, p_low=0.05))(keys)
    sampled = np.mean((np.asarray(noisy, np.float64) - x) ** 2, axis=(0, 2, 3, 4))
    expected = data.salt_and_pepper_mse(x, p_high=0.15, p_low=0.05)
    # 2000 draws of 64 pixels each: the sampled mean is within a few standard errors (~1e-3).
    np.testing.assert_allclose(sampled, expected, atol=5e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="salt_and_pepper_mse: p_high must be"):
        data.salt_and_pepper_mse(np.zeros((1, 2, 2, 1)), p_high=1.5)
    with pytest.raises(ValueError, match="salt_and_pepper_mse: x must be NHWC"):
        data.salt_and_pepper_mse(np.zeros((2, 2)))
