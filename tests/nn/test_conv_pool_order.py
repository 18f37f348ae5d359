"""`Sequential` pools a `Conv2D`'s output before its bias and activation where that is exact.

The oracle is Keras 3's `Sequential([Conv2D, MaxPooling2D])` holding our weights, which
adds the bias and applies the activation before pooling, forward and gradients (through
`stateless_call`). The pairs cover the reordered path (relu or linear, VALID windows that
tile the map or crop a remainder, SAME pooling that pads nothing, 3x3 windows, no bias)
and the ones that must keep the layers' order (SAME pooling that pads, tanh, a stride
other than the window). Ties, where the two orders may split a window's gradient
differently, are checked against a hand-computed gradient.
"""

import jax
import jax.extend
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

from cnnlab import nn
from tests.nn.keras_oracle import inits
from tests.ops.keras_helpers import keras_forward, keras_grads
from tests.tolerances import assert_close

# (Conv2D kwargs, MaxPool2D kwargs, input shape)
CASES = [
    (dict(kernel_size=3, padding="same", activation="relu"), dict(pool_size=2), (2, 8, 8, 1)),
    (dict(kernel_size=3, padding="same", activation="relu"), dict(pool_size=2), (2, 6, 6, 5)),
    (dict(kernel_size=3, activation=None), dict(pool_size=2), (2, 9, 9, 3)),  # 7x7 -> 3x3: crops
    (dict(kernel_size=3, padding="same", activation="relu"), dict(pool_size=2, padding="same"), (2, 8, 8, 2)),
    (dict(kernel_size=3, padding="same", activation="relu"), dict(pool_size=2, padding="same"), (2, 7, 7, 2)),
    (dict(kernel_size=2, activation="relu", use_bias=False), dict(pool_size=3), (1, 10, 10, 2)),
    (dict(kernel_size=3, padding="same", activation="tanh"), dict(pool_size=2), (2, 6, 6, 2)),
    (dict(kernel_size=3, padding="same", activation="relu"), dict(pool_size=3, strides=2), (2, 7, 7, 2)),
]


def _pair(conv_kw, pool_kw, c_in, seed=0):
    conv_kw = dict(conv_kw)
    k = conv_kw.pop("kernel_size")
    conv = nn.Conv2D(c_in, 4, k, rngs=nnx.Rngs(seed), **conv_kw)
    if conv.bias is not None:  # non-zero biases, so that adding them before or after pooling matters
        conv.bias[...] = jnp.asarray(np.random.default_rng(seed + 1).normal(size=4).astype(np.float32))
    pool_kw = dict(pool_kw)
    model = nn.Sequential(conv, nn.MaxPool2D(pool_kw.pop("pool_size"), **pool_kw))
    pool = model[1]
    oracle = keras.Sequential(
        [
            keras.layers.Conv2D(4, k, **conv_kw, **inits(conv)),
            keras.layers.MaxPooling2D(pool.pool_size, strides=pool.strides, padding=pool_kw.get("padding", "valid")),
        ]
    )
    return model, oracle


@pytest.mark.parametrize("conv_kw,pool_kw,shape", CASES)
def test_conv_then_max_pool_matches_keras_forward_and_gradients(conv_kw, pool_kw, shape):
    model, oracle = _pair(conv_kw, pool_kw, shape[-1])
    rng = np.random.default_rng(2)
    x = rng.normal(size=shape).astype(np.float32)
    want = keras_forward(oracle, x)
    got = nnx.jit(lambda m, a: m(a))(model, jnp.asarray(x))
    assert got.shape == want.shape
    assert_close(got, want)

    cot = rng.normal(size=want.shape).astype(np.float32)
    dx_k, dw_k = keras_grads(oracle, x, cot)

    def loss(params, a):
        return jnp.sum(nnx.merge(graph, params, rest)(a) * cot)

    graph, params, rest = nnx.split(model, nnx.Param, ...)
    dparams, dx = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, jnp.asarray(x))
    conv = dparams["layers"][0]
    assert_close(dx, dx_k)
    assert_close(conv["kernel"][...], dw_k[0])
    if model[0].bias is not None:
        assert_close(conv["bias"][...], dw_k[1])


def _relu_on(jaxpr) -> list[tuple]:
    """Shapes that `x <= 0` (our relu's test) is evaluated on, in every nested jaxpr."""
    shapes = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "le":
            shapes.append(tuple(eqn.invars[0].aval.shape))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            shapes += _relu_on(sub)
    return shapes


def test_relu_and_bias_run_on_the_pooled_map_only_where_exact():
    x = jnp.zeros((2, 8, 8, 1), jnp.float32)
    conv = dict(kernel_size=3, padding="same", activation="relu")
    tiled, _ = _pair(conv, dict(pool_size=2), 1)
    assert _relu_on(jax.make_jaxpr(lambda a: tiled(a))(x).jaxpr) == [(2, 4, 4, 4)]
    # Pooling that pads (7 -> 4) keeps the layers' order: relu on the full map.
    padded, _ = _pair(conv, dict(pool_size=2, padding="same"), 1)
    x7 = jnp.zeros((2, 7, 7, 1), jnp.float32)
    assert _relu_on(jax.make_jaxpr(lambda a: padded(a))(x7).jaxpr) == [(2, 7, 7, 4)]


def test_tied_windows_give_the_hand_computed_gradient():
    """A constant image makes every window a four-way tie; the gradient is still exact.

    With x = 1 everywhere, a VALID 3x3 convolution gives the same value at every pixel:
    `sum(kernel[..., o]) + bias[o]`, positive here, so relu passes it. Each of the N*OH'*OW'
    pooled outputs then has derivative 1 with respect to `bias[o]` and, whichever tied pixel
    its gradient goes to, `1` (the patch value) with respect to every `kernel[i, j, c, o]`.
    """
    model, _ = _pair(dict(kernel_size=3, activation="relu"), dict(pool_size=2), 2)
    model[0].kernel[...] = jnp.abs(model[0].kernel[...])
    model[0].bias[...] = jnp.abs(model[0].bias[...])
    x = jnp.ones((3, 10, 10, 2), jnp.float32)  # conv 8x8, pooled 4x4
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    grads = jax.grad(lambda p: jnp.sum(nnx.merge(graph, p, rest)(x)))(params)["layers"][0]
    np.testing.assert_array_equal(grads["bias"][...], np.full(4, 3 * 4 * 4, np.float32))
    np.testing.assert_array_equal(grads["kernel"][...], np.full((3, 3, 2, 4), 3 * 4 * 4, np.float32))
