"""dense, flatten, activations, dropout and losses against NumPy formulas and jax.nn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnnlab import ops
from tests.tolerances import assert_close

rng = np.random.default_rng(0)


def test_dense_and_flatten():
    x = jnp.asarray(rng.standard_normal((4, 5, 5, 16)), jnp.float32)
    f = ops.flatten(x)
    assert f.shape == (4, 400)
    np.testing.assert_array_equal(f[1, :16], x[1, 0, 0])  # row-major NHWC: channels vary fastest
    k, b = jnp.asarray(rng.standard_normal((400, 120)), jnp.float32), jnp.asarray(rng.standard_normal(120), jnp.float32)
    assert_close(ops.dense(f, k, b), np.asarray(f, np.float64) @ np.asarray(k, np.float64) + np.asarray(b, np.float64))
    with jax.enable_x64(True):
        check_grads(ops.dense, (jnp.ones((2, 3), jnp.float64), jnp.ones((3, 4), jnp.float64) * 0.5), order=2)


def test_activations_match_formulas_and_jax_nn():
    x = jnp.linspace(-30, 30, 241, dtype=jnp.float32)
    x64 = np.asarray(x, np.float64)
    assert_close(ops.relu(x), np.maximum(x64, 0))
    assert_close(ops.sigmoid(x), 1 / (1 + np.exp(-x64)))
    assert_close(ops.sigmoid(x), jax.nn.sigmoid(x))
    assert_close(ops.tanh(x), np.tanh(x64))
    logits = jnp.asarray(rng.standard_normal((5, 7)) * 20, jnp.float32)
    l64 = np.asarray(logits, np.float64)
    e = np.exp(l64 - l64.max(-1, keepdims=True))
    assert_close(ops.softmax(logits), e / e.sum(-1, keepdims=True))
    assert_close(ops.softmax(logits, axis=0), jax.nn.softmax(logits, axis=0))
    assert_close(ops.log_softmax(logits), jax.nn.log_softmax(logits))
    # Gradients: relu's is 0 at 0 (as Keras and PyTorch); sigmoid's does not overflow.
    np.testing.assert_array_equal(jax.grad(lambda x: ops.relu(x).sum())(jnp.array([-1.0, 0.0, 2.0])), [0, 0, 1])
    gs = jax.grad(lambda x: ops.sigmoid(x).sum())(jnp.array([-100.0, 0.0, 100.0]))
    assert np.all(np.isfinite(gs)) and float(gs[1]) == 0.25
    with jax.enable_x64(True):
        z = jnp.asarray(rng.standard_normal((3, 4)), jnp.float64)
        for fn in (ops.sigmoid, ops.tanh, ops.softmax, ops.log_softmax):
            check_grads(fn, (z,), order=2)


def test_dropout_rate_is_the_drop_probability():
    x = jnp.ones((200_000,))
    y = ops.dropout(x, 0.3, key=jax.random.key(0), training=True)
    dropped = float(jnp.mean(y == 0))
    assert abs(dropped - 0.3) < 0.005  # 0.005 is > 4 standard deviations at n=200k
    np.testing.assert_allclose(np.unique(np.asarray(y)), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs(float(y.mean()) - 1.0) < 0.01  # expectation preserved
    np.testing.assert_array_equal(ops.dropout(x, 0.3, key=jax.random.key(0), training=False), x)
    a = ops.dropout(x, 0.5, key=jax.random.key(1), training=True)
    b = ops.dropout(x, 0.5, key=jax.random.key(1), training=True)
    np.testing.assert_array_equal(a, b)  # a key fully determines the mask


def test_losses_match_numpy_formulas():
    p = jnp.asarray(rng.uniform(0, 1, (6, 5)), jnp.float32)
    t = jnp.asarray(rng.uniform(0, 1, (6, 5)), jnp.float32)
    p64, t64 = np.asarray(p, np.float64), np.asarray(t, np.float64)
    pc = np.clip(p64, 1e-7, 1 - 1e-7)
    assert_close(ops.binary_crossentropy(p, t), np.mean(-(t64 * np.log(pc) + (1 - t64) * np.log(1 - pc))))
    z = jnp.asarray(rng.standard_normal((6, 5)) * 10, jnp.float32)
    z64 = np.asarray(z, np.float64)
    s = 1 / (1 + np.exp(-z64))
    assert_close(
        ops.binary_crossentropy(z, t, from_logits=True), np.mean(-(t64 * np.log(s) + (1 - t64) * np.log(1 - s)))
    )
    assert_close(ops.mse(p, t), np.mean((p64 - t64) ** 2))
    assert_close(ops.mae(p, t), np.mean(np.abs(p64 - t64)))
    labels = jnp.array([0, 4, 2, 2, 1, 3])
    lse = np.log(np.exp(z64).sum(-1))
    assert_close(ops.softmax_cross_entropy(z, labels), np.mean(lse - z64[np.arange(6), np.asarray(labels)]))


def test_bce_saturated_inputs_stay_finite():
    p = jnp.array([0.0, 1.0, 0.0, 1.0])
    t = jnp.array([1.0, 0.0, 0.0, 1.0])
    loss, grad = jax.value_and_grad(ops.binary_crossentropy)(p, t)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    # Clipped to [1e-7, 1 - 1e-7] in float32, where 1 - 1e-7 rounds to 1 - 2**-23, as in Keras.
    lo, hi = np.float64(np.float32(1e-7)), np.float64(np.float32(1 - 1e-7))
    want = np.mean([-np.log(lo), -np.log(1 - hi), -np.log(1 - lo), -np.log(hi)])
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    big = jnp.array([1000.0, -1000.0])
    assert np.isfinite(ops.binary_crossentropy(big, jnp.array([0.0, 1.0]), from_logits=True))


@pytest.mark.parametrize("name", ["binary_crossentropy", "mse", "mae"])
def test_loss_gradients_against_finite_differences(name):
    fn = getattr(ops, name)
    with jax.enable_x64(True):
        p = jnp.asarray(rng.uniform(0.1, 0.9, (3, 4)), jnp.float64)
        t = jnp.asarray(rng.uniform(0, 1, (3, 4)), jnp.float64)
        check_grads(lambda p: fn(p, t), (p,), order=1, eps=1e-4)
        if name == "binary_crossentropy":
            check_grads(lambda z: fn(z, t, from_logits=True), (p * 4 - 2,), order=2)
        z = jnp.asarray(rng.standard_normal((3, 5)), jnp.float64)
        check_grads(lambda z: ops.softmax_cross_entropy(z, jnp.array([0, 4, 1])), (z,), order=2)
