"""batch_norm against a float64 NumPy reference, lax-free identities and a precision trap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from cnnlab import ops
from tests.ops import reference as ref
from tests.tolerances import assert_close


def _params(rng, c, dtype=jnp.float32):
    gamma = jnp.asarray(rng.uniform(0.5, 1.5, c), dtype)
    beta = jnp.asarray(rng.standard_normal(c), dtype)
    mean = jnp.asarray(rng.standard_normal(c), dtype)
    var = jnp.asarray(rng.uniform(0.5, 2.0, c), dtype)
    return gamma, beta, mean, var


@given(
    st.sampled_from([(5, 3), (2, 4, 4, 3), (1, 3, 5, 2), (4, 2, 3)]),
    st.booleans(),
    st.sampled_from([0.99, 0.9, 0.0, 1.0]),
    st.sampled_from([1e-3, 1e-5]),
)
def test_batch_norm_matches_float64_reference(shape, training, momentum, epsilon):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(shape) * 3 + 1, jnp.float32)
    params = _params(rng, shape[-1])
    y, m, v = ops.batch_norm(x, *params, training=training, momentum=momentum, epsilon=epsilon)
    ry, rm, rv = ref.batch_norm(x, *params, training, momentum, epsilon)
    assert_close(y, ry)
    assert_close(m, rm)
    assert_close(v, rv)


def test_batch_norm_channel_axis_other_than_last():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((4, 3, 5, 5)), jnp.float32)  # NCHW, axis=1
    params = _params(rng, 3)
    y, m, v = ops.batch_norm(x, *params, training=True, axis=1)
    ry, rm, rv = ref.batch_norm(x, *params, True, 0.99, 1e-3, axis=1)
    assert_close(y, ry)
    assert_close(v, rv)


def test_training_output_is_standardized():
    # With gamma=1, beta=0 each channel of y has mean 0 and variance var/(var+eps).
    x = jnp.asarray(np.random.default_rng(2).standard_normal((64, 3)) * [1.0, 10.0, 0.1], jnp.float32)
    c = jnp.ones(3)
    y, _, _ = ops.batch_norm(x, c, 0 * c, 0 * c, c, training=True, epsilon=1e-5)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-6)
    bvar = np.var(np.asarray(x, np.float64), 0)
    np.testing.assert_allclose(y.var(0), bvar / (bvar + 1e-5), rtol=1e-5)


def test_large_mean_tiny_variance_stays_exact():
    # mean 1e4, std 1e-2: one-pass E[x^2] - E[x]^2 in float32 loses every digit of the
    # variance (1e8 has an ulp of 8); the two-pass form keeps it.
    rng = np.random.default_rng(3)
    x64 = 1e4 + 1e-2 * rng.standard_normal((256, 1))
    x = jnp.asarray(x64, jnp.float32)
    c = jnp.ones(1)
    y, m, v = ops.batch_norm(x, c, 0 * c, 0 * c, 0 * c, training=True, momentum=0.0, epsilon=1e-8)
    assert np.all(np.isfinite(y))
    xr = np.asarray(x, np.float64)  # the float32-rounded data is the input
    np.testing.assert_allclose(v, xr.var(0), rtol=1e-3)
    np.testing.assert_allclose(y[:, 0], (xr[:, 0] - xr.mean()) / np.sqrt(xr.var() + 1e-8), atol=2e-3)
    one_pass = float(jnp.mean(x * x) - jnp.mean(x) ** 2)
    assert abs(one_pass - float(v[0])) > 10 * float(v[0])  # the trap is real


def test_bfloat16_input_float32_statistics():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.standard_normal((8, 4, 4, 2)), jnp.bfloat16)
    params = _params(rng, 2)
    y, m, v = ops.batch_norm(x, *params, training=True)
    assert y.dtype == jnp.bfloat16 and m.dtype == jnp.float32
    ry, rm, rv = ref.batch_norm(np.asarray(x, np.float32), *params, True, 0.99, 1e-3)
    assert_close(y, ry, jnp.bfloat16)
    assert_close(m, rm)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_against_finite_differences(training):
    rng = np.random.default_rng(5)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((6, 3, 2)), jnp.float64)
        g, b, m, v = (jnp.asarray(a, jnp.float64) for a in _params(rng, 2))

        def f(x, g, b):
            return ops.batch_norm(x, g, b, m, v, training=training)[0]

        check_grads(f, (x, g, b), order=2, modes=("fwd", "rev"))


def test_batch_norm_under_jit_and_vmap():
    rng = np.random.default_rng(6)
    xs = jnp.asarray(rng.standard_normal((3, 5, 2)), jnp.float32)
    params = _params(rng, 2)
    f = jax.jit(lambda x: ops.batch_norm(x, *params, training=True))
    batched = jax.vmap(f)(xs)
    for i in range(3):
        for a, b in zip(batched, ref.batch_norm(xs[i], *params, True, 0.99, 1e-3)):
            assert_close(a[i], b)
