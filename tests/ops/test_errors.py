"""Every bad input gets a clear error: the right type, naming the argument and what it got."""

import jax
import jax.numpy as jnp
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
