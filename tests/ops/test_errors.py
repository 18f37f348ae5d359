"""Every bad input gets a clear error: the right type, naming the argument and what it got."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import ops

x4 = jnp.zeros((2, 8, 8, 3))
k4 = jnp.zeros((3, 3, 3, 4))
x3 = jnp.zeros((2, 8, 3))

CASES = [
    # (call, error type, words the message must contain)
    (lambda: ops.conv2d(jnp.zeros((8, 8, 3)), k4), ValueError, ["conv2d", "x", "rank 4", "(8, 8, 3)"]),
    (lambda: ops.conv2d(x4, jnp.zeros((3, 3, 4))), ValueError, ["conv2d", "kernel", "rank 4"]),
    (lambda: ops.conv2d(x4, jnp.zeros((3, 3, 1, 4))), ValueError, ["conv2d", "C_in=1", "3 channels"]),
    (lambda: ops.conv2d(x4, k4, stride=0), ValueError, ["conv2d", "stride", ">= 1", "0"]),
    (lambda: ops.conv2d(x4, k4, stride=1.5), TypeError, ["conv2d", "stride", "1.5"]),
    (lambda: ops.conv2d(x4, k4, stride=(1, 2, 3)), TypeError, ["conv2d", "stride"]),
    (lambda: ops.conv2d(x4, k4, dilation=-1), ValueError, ["conv2d", "dilation"]),
    (lambda: ops.conv2d(x4, k4, padding="FULL"), ValueError, ["conv2d", "padding", "FULL"]),
    (lambda: ops.conv2d(x4, k4, padding=-1), ValueError, ["conv2d", "padding", "non-negative"]),
    (lambda: ops.conv2d(x4, k4, padding=((1, 1),)), TypeError, ["conv2d", "padding"]),
    (lambda: ops.conv2d(x4, jnp.zeros((9, 9, 3, 4))), ValueError, ["conv2d", "window 9", "larger", "padded input"]),
    (lambda: ops.conv2d(x4, k4, dilation=4), ValueError, ["conv2d", "window 9", "larger"]),
    (lambda: ops.conv2d(x4.astype(jnp.uint8), k4), TypeError, ["conv2d", "x", "floating", "uint8"]),
    (lambda: ops.conv2d(x4, k4.astype(jnp.bfloat16)), TypeError, ["conv2d", "dtype", "bfloat16"]),
    (lambda: ops.conv2d(x4, k4, jnp.zeros(3)), ValueError, ["conv2d", "bias", "(4,)", "(3,)"]),
    (lambda: ops.conv2d([[1.0]], k4), TypeError, ["conv2d", "x", "array"]),
    (lambda: ops.conv1d(x4, jnp.zeros((3, 3, 4))), ValueError, ["conv1d", "x", "rank 3"]),
    (lambda: ops.conv1d(x3, jnp.zeros((3, 2, 4))), ValueError, ["conv1d", "C_in=2"]),
    (lambda: ops.conv1d(x3, jnp.zeros((3, 3, 4)), stride=(1, 2)), TypeError, ["conv1d", "stride"]),
    (lambda: ops.conv2d_transpose(x4, jnp.zeros((3, 3, 4, 2))), ValueError, ["conv2d_transpose", "C_in=2", "3"]),
    (
        lambda: ops.conv2d_transpose(x4, jnp.zeros((3, 3, 4, 3)), stride=2, output_padding=2),
        ValueError,
        ["conv2d_transpose", "output_padding", "smaller than the stride"],
    ),
    (
        lambda: ops.conv2d_transpose(x4, jnp.zeros((3, 3, 4, 3)), padding="full"),
        ValueError,
        ["conv2d_transpose", "padding", "full"],
    ),
    (
        lambda: ops.conv2d_transpose(jnp.zeros((1, 1, 1, 3)), jnp.zeros((1, 1, 4, 3)), padding=1),
        ValueError,
        ["conv2d_transpose", "padding", "output size"],
    ),
    (lambda: ops.max_pool2d(x4, 0), ValueError, ["max_pool2d", "window", ">= 1"]),
    (lambda: ops.max_pool2d(x4, 9), ValueError, ["max_pool2d", "window 9", "larger"]),
    (lambda: ops.max_pool2d(x4, 2, stride=0), ValueError, ["max_pool2d", "stride"]),
    (lambda: ops.max_pool2d(x4, 2, padding="full"), ValueError, ["max_pool2d", "padding"]),
    (lambda: ops.max_pool2d(x4, 2, padding=2), ValueError, ["max_pool2d", "padding", "smaller than the window"]),
    (lambda: ops.avg_pool2d(x3, 2), ValueError, ["avg_pool2d", "x", "rank 4"]),
    (lambda: ops.avg_pool2d(x4.astype(jnp.int32), 2), TypeError, ["avg_pool2d", "floating", "int32"]),
    (lambda: ops.max_pool1d(x4, 2), ValueError, ["max_pool1d", "x", "rank 3"]),
    (lambda: ops.max_pool1d(x3, 9), ValueError, ["max_pool1d", "window 9"]),
    (lambda: ops.avg_pool1d(x3, (2, 2)), TypeError, ["avg_pool1d", "window"]),
    (lambda: ops.upsample2d(x4, 0), ValueError, ["upsample2d", "scale", ">= 1"]),
    (lambda: ops.upsample2d(x4, 1.5), TypeError, ["upsample2d", "scale", "1.5"]),
    (lambda: ops.upsample2d(x4, 2, method="bicubic"), ValueError, ["upsample2d", "method", "bicubic"]),
    (lambda: ops.upsample2d(x4.astype(jnp.uint8), 2), TypeError, ["upsample2d", "floating", "uint8"]),
    (
        lambda: ops.batch_norm(x4, jnp.ones(4), jnp.zeros(3), jnp.zeros(3), jnp.ones(3), training=True),
        ValueError,
        ["batch_norm", "gamma", "(3,)", "(4,)"],
    ),
    (
        lambda: ops.batch_norm(x4, jnp.ones(3), jnp.zeros(3), jnp.zeros(3), jnp.ones(3), training=1),
        TypeError,
        ["batch_norm", "training", "bool"],
    ),
    (
        lambda: ops.batch_norm(x4, jnp.ones(3), jnp.zeros(3), jnp.zeros(3), jnp.ones(3), training=True, momentum=1.5),
        ValueError,
        ["batch_norm", "momentum", "1.5"],
    ),
    (
        lambda: ops.batch_norm(x4, jnp.ones(3), jnp.zeros(3), jnp.zeros(3), jnp.ones(3), training=True, axis=4),
        ValueError,
        ["batch_norm", "axis", "4"],
    ),
    (lambda: ops.dense(x4, jnp.zeros((4, 2))), ValueError, ["dense", "D_in=4", "(2, 8, 8, 3)", "flatten"]),
    (lambda: ops.dense(jnp.zeros((2, 4)), jnp.zeros((4, 2, 1))), ValueError, ["dense", "kernel", "rank 2"]),
    (lambda: ops.dense(jnp.zeros((2, 4)), jnp.zeros((4, 2)), jnp.zeros(3)), ValueError, ["dense", "bias", "(2,)"]),
    (lambda: ops.dropout(x4, 1.0, key=jax.random.key(0), training=True), ValueError, ["dropout", "rate", "1.0"]),
    (lambda: ops.dropout(x4, 0.5, key=None, training=True), ValueError, ["dropout", "key"]),
    (lambda: ops.mse(jnp.zeros((2, 3)), jnp.zeros((3,))), ValueError, ["mse", "same shape", "(2, 3)", "(3,)"]),
    (lambda: ops.mae(jnp.zeros(3), jnp.zeros(3, jnp.bfloat16)), TypeError, ["mae", "bfloat16"]),
    (
        lambda: ops.binary_crossentropy(jnp.zeros((2, 1)), jnp.zeros((2,))),
        ValueError,
        ["binary_crossentropy", "same shape"],
    ),
    (
        lambda: ops.softmax_cross_entropy(jnp.zeros((4, 10)), jnp.zeros((4,))),
        TypeError,
        ["softmax_cross_entropy", "labels", "integer", "float32"],
    ),
    (
        lambda: ops.softmax_cross_entropy(jnp.zeros((4, 10)), jnp.zeros((4, 10), jnp.int32)),
        ValueError,
        ["softmax_cross_entropy", "labels", "(4, 10)"],
    ),
]


@pytest.mark.parametrize("call, error, words", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


def test_errors_are_raised_at_trace_time_under_jit():
    with pytest.raises(ValueError, match="conv2d: kernel has C_in=1"):
        jax.jit(ops.conv2d)(x4, jnp.zeros((3, 3, 1, 4)))


def test_nothing_is_silently_cast_or_broadcast():
    # A rank-3 "image" is not silently given a batch axis; a kernel of another dtype is not promoted.
    with pytest.raises(ValueError):
        ops.max_pool2d(jnp.zeros((8, 8, 3)), 2)
    with pytest.raises(TypeError):
        ops.dense(jnp.zeros((2, 3)), jnp.zeros((3, 4), jnp.float16))


# ---- issue 15, item 10: raw errors named ------------------------------------------------------

x1 = jnp.zeros((2, 4, 1))
ZERO_SIZE_CASES = [
    # Zero-size axes that an op reduces over (channels, features, kernel taps, the batch in
    # batch-norm training): a named ValueError, never ZeroDivisionError/IndexError or a silent 0/NaN.
    (lambda: ops.conv2d(jnp.zeros((1, 4, 4, 0)), jnp.zeros((3, 3, 0, 2))), ["conv2d", "C_in=0", "at least 1"]),
    (lambda: ops.conv1d(jnp.zeros((1, 4, 0)), jnp.zeros((3, 0, 2))), ["conv1d", "C_in=0", "(1, 4, 0)"]),
    (lambda: ops.conv2d_transpose(jnp.zeros((1, 4, 4, 0)), jnp.zeros((3, 3, 2, 0))), ["conv2d_transpose", "C_in=0"]),
    (lambda: ops.conv2d(x4, jnp.zeros((0, 3, 3, 2))), ["conv2d", "kernel", "(0, 3, 3, 2)", "at least 1"]),
    (lambda: ops.conv1d(x1, jnp.zeros((0, 1, 2))), ["conv1d", "kernel", "(0, 1, 2)"]),
    (lambda: ops.conv2d_transpose(x4, jnp.zeros((3, 0, 2, 3))), ["conv2d_transpose", "kernel", "(3, 0, 2, 3)"]),
    (lambda: ops.dense(jnp.zeros((2, 0)), jnp.zeros((0, 3))), ["dense", "D_in=0", "at least 1"]),
    (
        lambda: ops.batch_norm(jnp.zeros((0, 3)), jnp.ones(3), jnp.zeros(3), jnp.zeros(3), jnp.ones(3), training=True),
        ["batch_norm", "at least one example", "training", "(0, 3)"],
    ),
    (
        lambda: ops.batch_norm(
            jnp.zeros((2, 0, 2, 3)), jnp.ones(3), jnp.zeros(3), jnp.zeros(3), jnp.ones(3), training=True
        ),
        ["batch_norm", "training", "(2, 0, 2, 3)"],
    ),
    (
        lambda: ops.batch_norm(jnp.zeros((2, 0)), jnp.ones(0), jnp.zeros(0), jnp.zeros(0), jnp.ones(0), training=True),
        ["batch_norm", "channel", "(2, 0)"],
    ),
    (lambda: ops.softmax(jnp.zeros((2, 0))), ["softmax", "axis", "(2, 0)"]),
    (lambda: ops.log_softmax(jnp.zeros((2, 0))), ["log_softmax", "axis", "(2, 0)"]),
    (
        lambda: ops.softmax_cross_entropy(jnp.zeros((2, 0)), jnp.zeros(2, jnp.int32)),
        ["softmax_cross_entropy", "class", "(2, 0)"],
    ),
    (lambda: ops.softmax_cross_entropy(jnp.zeros((0, 3)), jnp.zeros(0, jnp.int32)), ["softmax_cross_entropy", "empty"]),
    (lambda: ops.mse(jnp.zeros((0, 3)), jnp.zeros((0, 3))), ["mse", "empty", "(0, 3)"]),
    (lambda: ops.binary_crossentropy(jnp.zeros(0), jnp.zeros(0)), ["binary_crossentropy", "empty"]),
]


@pytest.mark.parametrize("call, words", ZERO_SIZE_CASES, ids=[f"zero{i}" for i in range(len(ZERO_SIZE_CASES))])
def test_zero_size_axes_raise_a_named_value_error(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_zero_size_axes_that_nothing_reduces_over_give_empty_outputs():
    # An empty batch, or no output channels, is not an error: the output is empty too, as in
    # lax and PyTorch. Oracle: the shapes, by hand.
    assert ops.conv2d(jnp.zeros((0, 5, 5, 1)), jnp.zeros((3, 3, 1, 2))).shape == (0, 3, 3, 2)
    assert ops.conv2d(x4, jnp.zeros((3, 3, 3, 0))).shape == (2, 6, 6, 0)
    assert ops.max_pool2d(jnp.zeros((0, 4, 4, 2)), 2).shape == (0, 2, 2, 2)
    assert ops.avg_pool2d(jnp.zeros((1, 4, 4, 0)), 2, padding="SAME").shape == (1, 2, 2, 0)
    assert ops.dense(jnp.zeros((0, 3)), jnp.zeros((3, 2))).shape == (0, 2)
    y, m, v = ops.batch_norm(jnp.zeros((0, 3)), jnp.ones(3), jnp.zeros(3), jnp.zeros(3), jnp.ones(3), training=False)
    assert y.shape == (0, 3)


CONV1D_CASES = [
    # Every conv1d error names conv1d and its own (N, L, C) / (K, C_in, C_out) shapes, never
    # the height-1 conv2d it is computed with.
    (lambda: ops.conv1d(x1, jnp.zeros((9, 1, 2))), ["window 9", "padded input 4+0+0=4"]),
    (lambda: ops.conv1d(x1, jnp.zeros((3, 1, 2)), dilation=3), ["window 7", "dilation"]),
    (lambda: ops.conv1d(x1, jnp.zeros((3, 1, 2)), jnp.zeros(3)), ["bias", "(2,)", "(3,)"]),
    (lambda: ops.conv1d(x1, jnp.zeros((3, 1, 2), jnp.bfloat16)), ["x float32", "kernel bfloat16"]),
    (lambda: ops.conv1d(x1, jnp.zeros((3, 1, 2)), padding="FULL"), ["padding", "FULL"]),
    (lambda: ops.conv1d(x1, jnp.zeros((3, 1, 2)), padding=(1, 2, 3)), ["padding", "(1, 2, 3)"]),
    (lambda: ops.max_pool1d(x1, 9), ["window 9", "padded input 4+0+0=4", "axis 0"]),
    (lambda: ops.max_pool1d(x1, 2, padding=2), ["padding 2", "smaller than the window 2"]),
]


@pytest.mark.parametrize("call, words", CONV1D_CASES, ids=[f"oned{i}" for i in range(len(CONV1D_CASES))])
def test_one_d_errors_name_the_one_d_op_and_its_shapes(call, words):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    op = "max_pool1d" if "pool" in message.split(":")[0] else "conv1d"
    assert message.startswith(f"{op}: "), message
    assert "2d" not in message and "(1, 9)" not in message and "(1, 2)" not in message, message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


KEY = jax.random.key(0)


@pytest.mark.parametrize(
    "rate",
    [np.float32(0.5), np.float64(0.5), np.array(0.5), np.array(0.5, np.float32), 0.5, 0, np.int64(0)],
    ids=["np.float32", "np.float64", "0-d array", "0-d float32 array", "float", "int", "np.int64"],
)
def test_dropout_accepts_any_real_scalar_rate(rate):
    # Oracle: all-ones input of 2000 values, half dropped for 0.5 and kept as 2.0, none for 0.
    y = np.asarray(ops.dropout(jnp.ones(2000), rate, key=KEY, training=True))
    assert set(np.unique(y)) <= {0.0, 1 / (1 - float(rate))}
    assert abs((y == 0).mean() - float(rate)) < 0.05


@pytest.mark.parametrize(
    "rate, error, words",
    [
        (True, TypeError, ["bool"]),
        (np.bool_(False), TypeError, ["bool"]),
        (np.array([0.5]), TypeError, ["scalar", "(1,)"]),
        (jnp.array(0.5), TypeError, ["static", "jax"]),
        ("0.5", TypeError, ["str"]),
        (float("nan"), ValueError, ["[0, 1)", "nan"]),
        (np.float32(1.0), ValueError, ["[0, 1)", "1.0"]),
        (-0.1, ValueError, ["[0, 1)", "-0.1"]),
    ],
    ids=["bool", "np.bool_", "1-d array", "jax array", "str", "nan", "np.float32 1.0", "negative"],
)
def test_dropout_rejects_rates_that_are_not_real_scalars_in_range(rate, error, words):
    with pytest.raises(error) as info:
        ops.dropout(jnp.ones(4), rate, key=KEY, training=True)
    message = str(info.value)
    assert message.startswith("dropout: rate"), message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


def test_dropout_rate_as_a_tracer_is_refused_by_name():
    with pytest.raises(TypeError, match="dropout: rate must be a static"):
        jax.jit(lambda r: ops.dropout(jnp.ones(4), r, key=KEY, training=True))(0.5)
