"""`cnnlab.nn` layers against their Keras 3 layers holding the same weights.

Forward passes (our layers compiled with `nnx.jit`), BatchNorm in training and inference
including the moving-statistics update, train/eval switching through `model.train()` /
`model.eval()`, and parameter counts against Keras's `count_params()`.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

from cnnlab import nn
from tests.nn.keras_oracle import inits, keras_call, keras_numerics, ours, randomize
from tests.tolerances import assert_close


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# (our kwargs, Keras kwargs, input shape) for Conv2D: strides, paddings, dilation, activations,
# non-square kernels and sizes that the stride does not divide.
CONV2D_CASES = [
    (dict(kernel_size=3, padding="same", activation="relu"), (2, 9, 9, 3)),
    (dict(kernel_size=(3, 2), strides=2, padding="same"), (2, 9, 8, 3)),
    (dict(kernel_size=5, strides=(2, 1), padding="valid", activation="tanh"), (1, 11, 9, 3)),
    (dict(kernel_size=3, dilation=2, padding="same", activation="sigmoid"), (2, 10, 7, 3)),
    (dict(kernel_size=1, use_bias=False), (2, 5, 5, 3)),
]


def _keras_conv_kwargs(kw):
    kk = {k: v for k, v in kw.items() if k != "dilation"}
    if "dilation" in kw:
        kk["dilation_rate"] = kw["dilation"]
    return kk


@pytest.mark.parametrize("kw,shape", CONV2D_CASES)
def test_conv2d_matches_keras(kw, shape):
    layer = randomize(nn.Conv2D(shape[-1], 4, rngs=nnx.Rngs(0), **kw))
    oracle = keras.layers.Conv2D(4, **_keras_conv_kwargs(kw), **inits(layer))
    x = _x(shape)
    assert_close(ours(layer, jnp.asarray(x)), keras_call(oracle, x))


@pytest.mark.parametrize(
    "kw",
    [dict(kernel_size=3, padding="same", activation="relu"), dict(kernel_size=4, strides=3, dilation=1)],
)
def test_conv1d_matches_keras(kw):
    layer = randomize(nn.Conv1D(3, 5, rngs=nnx.Rngs(0), **kw))
    oracle = keras.layers.Conv1D(5, **_keras_conv_kwargs(kw), **inits(layer))
    x = _x((2, 17, 3))
    assert_close(ours(layer, jnp.asarray(x)), keras_call(oracle, x))


@pytest.mark.parametrize(
    "kw,shape",
    [
        (dict(kernel_size=3, strides=2, padding="same", activation="relu"), (2, 7, 7, 3)),
        (dict(kernel_size=7, padding="valid"), (2, 1, 1, 3)),
        (dict(kernel_size=(3, 2), strides=2, padding="valid"), (1, 5, 4, 3)),
        (dict(kernel_size=3, strides=2, padding="same", output_padding=0), (1, 4, 5, 3)),
        (dict(kernel_size=2, strides=3, padding="valid", activation="sigmoid"), (1, 4, 4, 3)),
    ],
)
def test_conv2d_transpose_matches_keras(kw, shape):
    layer = randomize(nn.Conv2DTranspose(shape[-1], 4, rngs=nnx.Rngs(0), **kw))
    assert layer.kernel.shape == (*layer.kernel_size, 4, shape[-1])  # Keras's (KH, KW, C_out, C_in)
    oracle = keras.layers.Conv2DTranspose(4, **kw, **inits(layer))
    x = _x(shape)
    assert_close(ours(layer, jnp.asarray(x)), keras_call(oracle, x))


@pytest.mark.parametrize(
    "ours_cls,keras_cls,kw",
    [
        (nn.MaxPool2D, keras.layers.MaxPooling2D, dict(pool_size=2)),
        (nn.MaxPool2D, keras.layers.MaxPooling2D, dict(pool_size=2, padding="same")),
        (nn.MaxPool2D, keras.layers.MaxPooling2D, dict(pool_size=3, strides=2, padding="valid")),
        (nn.AvgPool2D, keras.layers.AveragePooling2D, dict(pool_size=2)),
        (nn.AvgPool2D, keras.layers.AveragePooling2D, dict(pool_size=(3, 2), strides=1, padding="same")),
        (nn.UpSampling2D, keras.layers.UpSampling2D, dict(size=2)),
        (nn.UpSampling2D, keras.layers.UpSampling2D, dict(size=(2, 3), interpolation="bilinear")),
    ],
)
def test_pooling_and_upsampling_match_keras(ours_cls, keras_cls, kw):
    x = _x((2, 7, 6, 3))
    pos = kw.pop("pool_size", None) or kw.pop("size")
    layer = ours_cls(pos, **kw)
    key = "pool_size" if keras_cls is not keras.layers.UpSampling2D else "size"
    oracle = keras_cls(**{key: pos}, **kw)
    assert_close(ours(layer, jnp.asarray(x)), keras_call(oracle, x))


@pytest.mark.parametrize("activation", [None, "relu", "tanh", "softmax"])
def test_dense_matches_keras(activation):
    layer = randomize(nn.Dense(6, 5, activation=activation, rngs=nnx.Rngs(0)))
    oracle = keras.layers.Dense(5, activation=activation, **inits(layer))
    x = _x((4, 6))
    assert_close(ours(layer, jnp.asarray(x)), keras_call(oracle, x))


def test_flatten_and_unflatten_match_keras():
    x = _x((2, 3, 4, 5))
    flat = ours(nn.Flatten(), jnp.asarray(x))
    assert_close(flat, keras_call(keras.layers.Flatten(), x))
    assert_close(ours(nn.Unflatten((3, 4, 5)), flat), keras_call(keras.layers.Reshape((3, 4, 5)), np.asarray(flat)))


@nnx.jit
def _bn_step(bn, x):
    return bn(x)


def test_batch_norm_training_and_inference_match_keras():
    """Two training steps update the moving statistics as Keras does; then inference uses them."""
    bn = randomize(nn.BatchNorm(3, momentum=0.9, epsilon=1e-3, rngs=nnx.Rngs(0)))
    oracle = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, **inits(bn))
    x1, x2, x3 = _x((4, 5, 5, 3), 1) * 3 + 2, _x((4, 5, 5, 3), 2), _x((2, 5, 5, 3), 3)
    bn.train()
    for x in (x1, x2):
        assert_close(_bn_step(bn, jnp.asarray(x)), keras_call(oracle, x, training=True))
        assert_close(bn.mean[...], np.asarray(oracle.moving_mean.value))
        assert_close(bn.var[...], np.asarray(oracle.moving_variance.value))
    bn.eval()
    mean_before = np.asarray(bn.mean[...])
    assert_close(_bn_step(bn, jnp.asarray(x3)), keras_call(oracle, x3, training=False))
    np.testing.assert_array_equal(bn.mean[...], mean_before)  # inference leaves the statistics alone


def test_batch_norm_call_override_and_view():
    bn = randomize(nn.BatchNorm(2, rngs=nnx.Rngs(0)))
    x = jnp.asarray(_x((8, 2)) + 5)
    mean0 = np.asarray(bn.mean[...])
    bn.eval()
    # In eval mode, a per-call override still trains (as nnx.BatchNorm allows).
    bn(x, use_running_average=False)
    assert not np.allclose(bn.mean[...], mean0)
    view = nnx.view(bn, use_running_average=True)
    assert view.use_running_average is True


def test_batch_normalized_matches_keras_conv_bn_activation():
    rngs = nnx.Rngs(0)
    block = randomize(nn.BatchNormalized(nn.Conv2D(3, 4, 3, padding="same", rngs=rngs), "relu", rngs=rngs))
    oracle = keras.Sequential(
        [
            keras.layers.Conv2D(4, 3, padding="same", **inits(block.layer)),
            keras.layers.BatchNormalization(**inits(block.norm)),
            keras.layers.Activation("relu"),
        ]
    )
    x = _x((2, 6, 6, 3))
    for training in (True, False):
        block.train() if training else block.eval()
        assert_close(ours(block, jnp.asarray(x)), keras_call(oracle, x, training=training))
    assert_close(block.norm.mean[...], np.asarray(oracle.layers[1].moving_mean.value))


def test_dropout_drops_with_probability_rate_and_eval_is_identity():
    rate = 0.3
    drop = nn.Dropout(rate, rngs=nnx.Rngs(dropout=0))
    x = jnp.ones((200, 500), jnp.float32)
    y1, y2 = np.asarray(ours(drop, x)), np.asarray(ours(drop, x))
    for y in (y1, y2):
        dropped = np.mean(y == 0)
        # 1e5 Bernoulli(0.3) draws: standard deviation 0.0014; 5 sigma.
        assert abs(dropped - rate) < 0.007, dropped
        np.testing.assert_allclose(y[y != 0], 1 / (1 - rate), rtol=1e-6)  # Keras's inverted scaling
    assert not np.array_equal(y1, y2), "the rng stream must advance between calls"
    drop.eval()
    np.testing.assert_array_equal(ours(drop, x), x)
    drop.train()
    assert drop.deterministic is False


def test_dropout_matches_keras_in_expectation_and_at_inference():
    """Keras's Dropout(rate) also drops with probability `rate`: same drop fraction, same scaling."""
    x = np.ones((100, 400), np.float32)
    with keras_numerics():
        k = np.asarray(keras.layers.Dropout(0.5, seed=1)(x, training=True))
    y = np.asarray(ours(nn.Dropout(0.5, rngs=nnx.Rngs(dropout=1)), jnp.asarray(x)))
    assert abs(np.mean(k == 0) - np.mean(y == 0)) < 0.02
    assert set(np.unique(k)) == set(np.unique(y)) == {0.0, 2.0}


@pytest.mark.parametrize(
    "make_ours,make_keras,shape",
    [
        (lambda r: nn.Conv2D(3, 32, 3, rngs=r), lambda kw: keras.layers.Conv2D(32, 3, **kw), (1, 8, 8, 3)),
        (
            lambda r: nn.Conv1D(3, 8, 5, use_bias=False, rngs=r),
            lambda kw: keras.layers.Conv1D(8, 5, use_bias=False, **kw),
            (1, 9, 3),
        ),
        (
            lambda r: nn.Conv2DTranspose(8, 16, (3, 2), rngs=r),
            lambda kw: keras.layers.Conv2DTranspose(16, (3, 2), **kw),
            (1, 4, 4, 8),
        ),
        (lambda r: nn.Dense(400, 120, rngs=r), lambda kw: keras.layers.Dense(120, **kw), (1, 400)),
        (lambda r: nn.BatchNorm(32, rngs=r), lambda kw: keras.layers.BatchNormalization(**kw), (1, 4, 4, 32)),
    ],
)
def test_parameter_counts_match_keras(make_ours, make_keras, shape):
    layer = make_ours(nnx.Rngs(0))
    # Keras builds with our values as initializers (its random ones compile for seconds); the
    # initializers check that Keras asks for exactly our shapes, and count_params counts them.
    oracle = make_keras(inits(layer))
    with keras_numerics():
        oracle.build(shape)
    assert nn.count_params(layer) == oracle.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in oracle.trainable_weights)
    assert nn.count_params(layer, trainable_only=True) == trainable


def test_glorot_uniform_defaults():
    """Kernels are glorot-uniform with Keras's fans (receptive field x channels); biases zero."""
    layer = nn.Conv2D(16, 32, 5, rngs=nnx.Rngs(0))
    limit = np.sqrt(6 / (25 * 16 + 25 * 32))
    k = np.asarray(layer.kernel[...])
    assert k.min() >= -limit and k.max() <= limit and k.max() > 0.9 * limit
    np.testing.assert_array_equal(layer.bias[...], 0)
    # A seed fully determines the weights; another seed gives others.
    np.testing.assert_array_equal(nn.Conv2D(16, 32, 5, rngs=nnx.Rngs(0)).kernel[...], k)
    assert not np.allclose(nn.Conv2D(16, 32, 5, rngs=nnx.Rngs(1)).kernel[...], k)


@pytest.mark.parametrize("shape", [(3, 3, 1, 32), (5, 5, 6, 16), (784, 10), (3, 3, 64, 64)])
def test_glorot_uniform_built_eagerly_equals_built_under_jit(shape):
    """Eagerly the scaling runs in NumPy; under `jax.jit` (the key a tracer) in XLA: the same bits,
    and the same values as `jax.random.uniform` scaled to Keras's limit by hand."""
    from cnnlab.nn._util import glorot_uniform

    key = jax.random.key(3)
    eager = np.asarray(glorot_uniform(key, shape))
    traced = np.asarray(jax.jit(lambda k: glorot_uniform(k, shape))(key))
    np.testing.assert_array_equal(eager, traced)
    receptive = int(np.prod(shape[:-2]))
    limit = np.sqrt(6 / (receptive * (shape[-2] + shape[-1])))
    n = int(np.prod(shape))
    bucket = 1 << max(n - 1, 1).bit_length()
    u = np.asarray(jax.random.uniform(key, (bucket,), jnp.float32))[:n]
    np.testing.assert_allclose(eager, ((2 * u - 1) * limit).reshape(shape), rtol=1e-6, atol=1e-7)


def test_sequential_and_layers_in_order():
    r = nnx.Rngs(0)
    model = nn.Sequential(
        nn.Conv2D(1, 4, 3, activation="relu", rngs=r), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(4 * 3 * 3, 2, rngs=r)
    )
    x = jnp.asarray(_x((2, 8, 8, 1)))
    manual = model[3](model[2](model[1](model[0](x))))
    assert_close(ours(model, x), manual)
    assert [type(m).__name__ for m in nn.layers_in_order(model)] == ["Conv2D", "MaxPool2D", "Flatten", "Dense"]


def test_errors_name_the_layer_and_shapes():
    r = nnx.Rngs(0)
    with pytest.raises(ValueError, match=r"Conv2D: x must have C_in=3 on its last axis, got shape \(2, 8, 8, 1\)"):
        nn.Conv2D(3, 4, 3, rngs=r)(jnp.ones((2, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"Dense: x must have D_in=10"):
        nn.Dense(10, 2, rngs=r)(jnp.ones((2, 9)))
    with pytest.raises(ValueError, match="padding must be"):
        nn.Conv2D(3, 4, 3, padding="full", rngs=r)
    with pytest.raises(ValueError, match="activation must be"):
        nn.Dense(3, 4, activation="gelu2", rngs=r)
    with pytest.raises(ValueError, match="must have activation=None"):
        nn.BatchNormalized(nn.Conv2D(3, 4, 3, activation="relu", rngs=r), "relu", rngs=r)
    with pytest.raises(ValueError, match=r"Unflatten: x must have shape \(N, 60\)"):
        nn.Unflatten((3, 4, 5))(jnp.ones((2, 59)))
    with pytest.raises(ValueError, match="drop probability"):
        nn.Dropout(1.0, rngs=r)
    with pytest.raises(ValueError, match="out_features must be a positive int"):
        nn.Conv2D(3, 0, 3, rngs=r)


@pytest.mark.parametrize("rate", [np.float32(0.25), np.array(0.25), np.float64(0.25)])
def test_dropout_layer_accepts_numpy_scalar_rates(rate):
    # Oracle: the rate as a Python float; inverted scaling 1 / (1 - 0.25).
    drop = nn.Dropout(rate, rngs=nnx.Rngs(dropout=0))
    assert drop.rate == 0.25 and type(drop.rate) is float
    y = np.asarray(drop(jnp.ones((4000,))))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.03


def test_layers_name_the_op_and_refuse_bool_rates_and_empty_batches():
    r = nnx.Rngs(0)
    with pytest.raises(TypeError, match="Dropout: rate .* bool"):
        nn.Dropout(True, rngs=r)
    with pytest.raises(TypeError, match="Dropout: rate must be a static"):
        nn.Dropout(jnp.array(0.5), rngs=r)
    # Conv1D computes with a height-1 conv2d; its errors still say conv1d and the 1-D shapes.
    with pytest.raises(ValueError, match=r"^conv1d: window 5 .* padded input 4\+0\+0=4 along spatial axis 0"):
        nn.Conv1D(2, 3, 5, rngs=r)(jnp.ones((1, 4, 2)))
    with pytest.raises(ValueError, match=r"batch_norm: x of shape \(0, 8, 8, 3\) .* at least one example"):
        nn.BatchNorm(3, rngs=r)(jnp.ones((0, 8, 8, 3)))


def test_public_names_are_layers_and_functions_not_submodules():
    import types

    assert nn.linear is nn.ACTIVATIONS["linear"]  # not the module that holds Dense
    np.testing.assert_array_equal(nn.linear(np.arange(3.0)), np.arange(3.0))
    modules = [name for name in nn.__all__ if isinstance(getattr(nn, name), types.ModuleType)]
    assert modules == []
    assert nn.Dropout.__module__ == "cnnlab.nn.dropout" and nn.UpSampling2D.__module__ == "cnnlab.nn.resample"
