"""`Sequential` is plain composition; `Conv2DMaxPool` pools before the bias and activation where exact.

Oracles: Keras 3's `Sequential([Conv2D, MaxPooling2D])` holding our weights, and
`lax.conv_general_dilated` + bias + activation + `lax.reduce_window(max)`, both adding the
bias and applying the activation before pooling, forward and gradients. Inputs are random
normal, so no pooling window holds tied maxima and the gradients must agree. The cases
cover the reordered path (relu or linear, VALID windows that tile the map or crop a
remainder, SAME pooling that pads nothing, 3x3 windows, no bias) and SAME pooling that
pads, which keeps the layers' order. Ties are checked against a hand-computed gradient.
"""

import jax
import jax.extend
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

from cnnlab import nn, ops
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
]


def _layers(conv_kw, pool_kw, c_in, seed=0):
    conv_kw, pool_kw = dict(conv_kw), dict(pool_kw)
    conv = nn.Conv2D(c_in, 4, conv_kw.pop("kernel_size"), rngs=nnx.Rngs(seed), **conv_kw)
    if conv.bias is not None:  # non-zero biases, so that adding them before or after pooling matters
        conv.bias[...] = jnp.asarray(np.random.default_rng(seed + 1).normal(size=4).astype(np.float32))
    return conv, nn.MaxPool2D(pool_kw.pop("pool_size"), **pool_kw)


def _keras(conv, pool):
    kw = dict(padding=conv.padding.lower(), use_bias=conv.bias is not None, **inits(conv))
    act = "relu" if conv.activation is ops.relu else None
    return keras.Sequential(
        [
            keras.layers.Conv2D(conv.out_features, conv.kernel_size, activation=act, **kw),
            keras.layers.MaxPooling2D(pool.pool_size, strides=pool.strides, padding=pool.padding.lower()),
        ]
    )


def _lax(conv, pool):
    """`pool(conv(x))` by jax.lax, as a function of `(kernel, bias, x)`."""
    act = jax.nn.relu if conv.activation is ops.relu else (lambda v: v)

    def f(kernel, bias, x):
        y = jax.lax.conv_general_dilated(x, kernel, (1, 1), conv.padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = act(y if bias is None else y + bias[None, None, None, :])
        window = (1, *pool.pool_size, 1)
        return jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, window, (1, *pool.strides, 1), pool.padding)

    return f


def _value_and_grads(model, x, cot):
    """`model(x)`, and the gradients of `sum(model(x) * cot)` for its parameters and for `x`."""
    graph, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(p, a):
        return jnp.sum(nnx.merge(graph, p, rest)(a) * cot)

    dparams, dx = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
    return nnx.jit(lambda m, a: m(a))(model, x), dparams, dx


@pytest.mark.parametrize("conv_kw,pool_kw,shape", CASES)
def test_conv2d_max_pool_matches_keras_and_lax_forward_and_gradients(conv_kw, pool_kw, shape):
    conv, pool = _layers(conv_kw, pool_kw, shape[-1])
    model = nn.Conv2DMaxPool(conv, pool)
    rng = np.random.default_rng(2)
    x = rng.normal(size=shape).astype(np.float32)
    bias = None if conv.bias is None else conv.bias[...]
    want = _lax(conv, pool)(conv.kernel[...], bias, jnp.asarray(x))
    cot = rng.normal(size=want.shape).astype(np.float32)
    got, dparams, dx = _value_and_grads(model, jnp.asarray(x), cot)
    assert got.shape == want.shape
    assert_close(got, want)
    oracle = _keras(conv, pool)
    assert_close(got, keras_forward(oracle, x))  # builds it, for keras_grads

    argnums = (0, 2) if bias is None else (0, 1, 2)
    lax_grads = jax.grad(lambda *a: jnp.sum(_lax(conv, pool)(*a) * cot), argnums)(conv.kernel[...], bias, x)
    dx_k, dw_k = keras_grads(oracle, x, cot)
    assert_close(dx, lax_grads[-1], grad=True)
    assert_close(dx, dx_k, grad=True)
    assert_close(dparams["conv"]["kernel"][...], lax_grads[0], grad=True)
    assert_close(dparams["conv"]["kernel"][...], dw_k[0], grad=True)
    if bias is not None:
        assert_close(dparams["conv"]["bias"][...], lax_grads[1], grad=True)


TANH = (dict(kernel_size=3, activation="tanh"), dict(pool_size=2), (2, 8, 8, 2))


@pytest.mark.parametrize("conv_kw,pool_kw,shape", [*CASES, TANH])
def test_sequential_is_plain_composition(conv_kw, pool_kw, shape):
    """`Sequential(conv, pool)` is `pool(conv(x))` bit for bit, gradients included, ties too."""
    conv, pool = _layers(conv_kw, pool_kw, shape[-1])
    seq = nn.Sequential(conv, pool)
    graph, params, rest = nnx.split(conv, nnx.Param, ...)
    f = jax.jit(lambda p, a: jnp.sum(pool(nnx.merge(graph, p, rest)(a))))
    for x in (np.random.default_rng(3).normal(size=shape), np.ones(shape)):  # the second: all ties
        x = jnp.asarray(x, jnp.float32)
        _, p_seq, dx_seq = _value_and_grads(seq, x, jnp.ones_like(pool(conv(x))))
        np.testing.assert_array_equal(seq(x), pool(conv(x)))
        p_one, dx_one = jax.grad(f, argnums=(0, 1))(params, x)
        np.testing.assert_array_equal(dx_seq, dx_one)
        np.testing.assert_array_equal(p_seq["layers"][0]["kernel"][...], p_one["kernel"][...])


def _relu_on(jaxpr) -> list[tuple]:
    """Shapes that `x <= 0` (our relu's test) is evaluated on, in every nested jaxpr."""
    shapes = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "le":
            shapes.append(tuple(eqn.invars[0].aval.shape))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            shapes += _relu_on(sub)
    return shapes


def test_relu_runs_on_the_pooled_map_only_in_the_fused_layer_and_only_where_exact():
    x = jnp.zeros((2, 8, 8, 1), jnp.float32)
    conv, pool = _layers(dict(kernel_size=3, padding="same", activation="relu"), dict(pool_size=2), 1)
    assert _relu_on(jax.make_jaxpr(nn.Conv2DMaxPool(conv, pool))(x).jaxpr) == [(2, 4, 4, 4)]
    assert _relu_on(jax.make_jaxpr(nn.Sequential(conv, pool))(x).jaxpr) == [(2, 8, 8, 4)]
    # Pooling that pads (7 -> 4) keeps the layers' order: relu on the full map.
    padded = nn.Conv2DMaxPool(conv, nn.MaxPool2D(2, padding="same"))
    assert _relu_on(jax.make_jaxpr(padded)(jnp.zeros((2, 7, 7, 1), jnp.float32)).jaxpr) == [(2, 7, 7, 4)]


@pytest.mark.parametrize("fused", [True, False])
def test_tied_windows_give_the_hand_computed_gradient(fused):
    """A constant image makes every window a four-way tie; the parameter gradients are still exact.

    With x = 1 everywhere, a VALID 3x3 convolution gives the same value at every pixel:
    `sum(kernel[..., o]) + bias[o]`, positive here, so relu passes it. Each of the N*OH'*OW'
    pooled outputs then has derivative 1 with respect to `bias[o]` and, whichever tied pixel
    its gradient goes to, `1` (the patch value) with respect to every `kernel[i, j, c, o]`.
    (The input gradient depends on which tied pixel a window routes to; the two orders may
    choose differently, and both are valid subgradients.)
    """
    conv, pool = _layers(dict(kernel_size=3, activation="relu"), dict(pool_size=2), 2)
    conv.kernel[...] = jnp.abs(conv.kernel[...])
    conv.bias[...] = jnp.abs(conv.bias[...])
    model = nn.Conv2DMaxPool(conv, pool) if fused else nn.Sequential(conv, pool)
    x = jnp.ones((3, 10, 10, 2), jnp.float32)  # conv 8x8, pooled 4x4
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    grads = jax.grad(lambda p: jnp.sum(nnx.merge(graph, p, rest)(x)))(params)
    grads = grads["conv"] if fused else grads["layers"][0]
    np.testing.assert_array_equal(grads["bias"][...], np.full(4, 3 * 4 * 4, np.float32))
    np.testing.assert_array_equal(grads["kernel"][...], np.full((3, 3, 2, 4), 3 * 4 * 4, np.float32))


def test_conv2d_max_pool_refuses_pairs_where_the_reorder_is_not_exact():
    r = nnx.Rngs(0)
    with pytest.raises(ValueError, match=r"Conv2DMaxPool: conv's activation must be relu or linear .*'tanh'"):
        nn.Conv2DMaxPool(nn.Conv2D(1, 2, 3, activation="tanh", rngs=r), nn.MaxPool2D(2))
    strides = r"strides must equal its pool_size .* strides \(2, 2\) and pool_size \(3, 3\)"
    with pytest.raises(ValueError, match=strides):
        nn.Conv2DMaxPool(nn.Conv2D(1, 2, 3, rngs=r), nn.MaxPool2D(3, strides=2))
    with pytest.raises(TypeError, match="Conv2DMaxPool: pool must be a MaxPool2D, got AvgPool2D"):
        nn.Conv2DMaxPool(nn.Conv2D(1, 2, 3, rngs=r), nn.AvgPool2D(2))
    with pytest.raises(TypeError, match="Conv2DMaxPool: conv must be a Conv2D, got Dense"):
        nn.Conv2DMaxPool(nn.Dense(1, 2, rngs=r), nn.MaxPool2D(2))


def test_weight_walk_sees_the_conv_and_the_pool():
    layer = nn.Conv2DMaxPool(nn.Conv2D(1, 2, 3, rngs=nnx.Rngs(0)), nn.MaxPool2D(2))
    assert [(p, type(m).__name__) for p, m in nn.named_layers(nn.Sequential(layer))] == [
        ("0.conv", "Conv2D"),
        ("0.pool", "MaxPool2D"),
    ]
