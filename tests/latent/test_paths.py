"""`lerp` and `slerp` against hand-computed points, the slerp formula in NumPy, and its geometry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.latent import lerp, slerp
from tests.tolerances import assert_close


def _slerp_reference(z0, z1, steps):
    """The textbook formula in float64 NumPy, one point at a time."""
    a, b = np.asarray(z0, np.float64).ravel(), np.asarray(z1, np.float64).ravel()
    omega = np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))
    out = []
    for i in range(steps):
        t = i / (steps - 1)
        out.append((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega))
    return np.stack(out).reshape((steps,) + np.shape(z0))


def test_lerp_hand_computed():
    z = lerp(jnp.array([0.0, 2.0]), jnp.array([4.0, -2.0]), 5)
    expected = [[0, 2], [1, 1], [2, 0], [3, -1], [4, -2]]
    assert z.shape == (5, 2)
    np.testing.assert_allclose(np.asarray(z), expected, atol=1e-6)


def test_lerp_any_shape_exact_endpoints():
    k0, k1 = jax.random.split(jax.random.key(0))
    z0, z1 = jax.random.normal(k0, (4, 4, 8)), jax.random.normal(k1, (4, 4, 8))
    z = lerp(z0, z1, 7)
    assert z.shape == (7, 4, 4, 8)
    np.testing.assert_array_equal(np.asarray(z[0]), np.asarray(z0))
    np.testing.assert_array_equal(np.asarray(z[-1]), np.asarray(z1))
    for i in range(7):
        t = i / 6
        assert_close(z[i], (1 - t) * np.asarray(z0, np.float64) + t * np.asarray(z1, np.float64), np.float32)


def test_slerp_quarter_circle_hand_computed():
    # Orthogonal unit vectors: point i is (cos(t pi/2), sin(t pi/2)).
    z = slerp(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), 5)
    t = np.linspace(0, 1, 5)
    np.testing.assert_allclose(np.asarray(z), np.stack([np.cos(t * np.pi / 2), np.sin(t * np.pi / 2)], 1), atol=1e-6)


@pytest.mark.parametrize("shape", [(2,), (10,), (3, 4), (4, 4, 8)])
def test_slerp_matches_formula(shape):
    k0, k1 = jax.random.split(jax.random.key(len(shape)))
    z0, z1 = jax.random.normal(k0, shape), 3.0 * jax.random.normal(k1, shape)
    z = slerp(z0, z1, 9)
    assert z.shape == (9, *shape)
    np.testing.assert_allclose(np.asarray(z), _slerp_reference(z0, z1, 9), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(z[0]), np.asarray(z0))
    np.testing.assert_array_equal(np.asarray(z[-1]), np.asarray(z1))


def test_slerp_equal_norms_stay_on_the_sphere_at_even_angles():
    k0, k1 = jax.random.split(jax.random.key(1))
    z0, z1 = jax.random.normal(k0, (16,)), jax.random.normal(k1, (16,))
    z1 = z1 * (jnp.linalg.norm(z0) / jnp.linalg.norm(z1))
    z = np.asarray(slerp(z0, z1, 11), np.float64)
    r = np.linalg.norm(np.asarray(z0, np.float64))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), r, rtol=1e-5)
    # The angle to z0 grows evenly: t_i * omega.
    a, b = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    omega = np.arccos(a @ b / r**2)
    angles = np.arccos(np.clip(z @ a / (np.linalg.norm(z, axis=1) * r), -1, 1))
    np.testing.assert_allclose(angles, np.linspace(0, 1, 11) * omega, atol=1e-3)
    # lerp between the same points dips inside the sphere (its midpoint has norm r cos(omega/2)).
    mid = np.linalg.norm(np.asarray(lerp(z0, z1, 11)[5], np.float64))
    np.testing.assert_allclose(mid, r * np.cos(omega / 2), rtol=1e-5)


@pytest.mark.parametrize(
    "z0, z1",
    [
        ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]),  # parallel
        ([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]),  # antiparallel
        ([0.0, 0.0, 0.0], [1.0, -1.0, 2.0]),  # a zero endpoint
    ],
)
def test_slerp_degenerate_falls_back_to_lerp(z0, z1):
    z = np.asarray(slerp(jnp.array(z0), jnp.array(z1), 5))
    t = np.linspace(0, 1, 5)[:, None]
    expected = (1 - t) * np.array(z0) + t * np.array(z1)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z, expected, atol=1e-6)


@pytest.mark.parametrize("fn", [lerp, slerp])
def test_errors(fn):
    name = fn.__name__
    with pytest.raises(ValueError, match=rf"{name}: z0 and z1 must have the same shape; got \(2,\) and \(3,\)"):
        fn(jnp.zeros(2), jnp.zeros(3), 4)
    with pytest.raises(ValueError, match=rf"{name}: steps must be an int >= 2"):
        fn(jnp.zeros(2), jnp.ones(2), 1)
    with pytest.raises(ValueError, match="steps must be an int"):
        fn(jnp.zeros(2), jnp.ones(2), 2.0)
    with pytest.raises(TypeError, match=rf"{name}: z0 must be floating; got int32"):
        fn(jnp.zeros(2, jnp.int32), jnp.ones(2, jnp.int32), 3)
    with pytest.raises(TypeError, match="same dtype"):
        fn(jnp.zeros(2, jnp.float32), jnp.ones(2, jnp.bfloat16), 3)
