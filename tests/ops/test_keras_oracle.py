"""Conformance of `cnnlab.ops` with Keras 3 layers, ops, activations and losses (JAX backend).

Keras is the oracle for the semantics DESIGN.md borrows from it: SAME padding with the extra
pixel at the bottom/right, `Conv2DTranspose` output sizes with and without `output_padding`,
average pooling whose SAME windows exclude the padding, half-pixel bilinear upsampling,
`BatchNormalization` moving statistics (`new = momentum*old + (1-momentum)*batch`, biased
batch variance), `Dropout(rate)` dropping with probability `rate`, and loss reductions.

Each test builds the public Keras layer with our weights (as its initializers), and
compares outputs with `assert_close`; gradients go through `layer.stateless_call` and are
compared at `grad_tol`. Our ops run under `jax.jit` and under the strict promotion rules of
conftest; Keras runs under JAX's default rules (see `keras_helpers.keras_numerics`).

Inputs come from NumPy generators seeded by hypothesis (continuous values: no ties in max
pooling, no kinks hit in MAE), shapes are kept small because every new shape compiles.
"""

from functools import partial

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab import ops
from tests.ops.keras_helpers import (
    built,
    constant,
    keras_forward,
    keras_grads,
    keras_numerics,
    our_grads,
    randn,
)
from tests.tolerances import assert_close

# Every example compiles new shapes on both sides. Secondary sweeps run half as many
# examples as the active hypothesis profile asks for, gradient sweeps (a forward and a
# backward pass on each side) a third: 25 -> 12 and 8 by default, 300 -> 150 and 100.
HALF = settings(max_examples=max(5, settings.default.max_examples // 2))
FEWER = settings(max_examples=max(5, settings.default.max_examples // 3))

seeds = st.integers(0, 2**31 - 1)


def _as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _check_same(got, expected, *, grad=False, what=""):
    """Shape, dtype and values of our result against Keras's."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, Keras gives {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, Keras gives {expected.dtype}"
    assert_close(got, expected, grad=grad, err_msg=what)


# --------------------------------------------------------------------------- strategies


@st.composite
def conv2d_cases(draw, explicit_padding=False):
    """A Conv2D configuration Keras accepts: stride > 1 and dilation > 1 are never combined."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))  # even kernels included
    dilation = draw(st.sampled_from([1, 1, 1, 2, (1, 2), (3, 1)]))
    if _as_pair(dilation) == (1, 1):
        stride = draw(st.sampled_from([1, 2, 3, (1, 2), (3, 2)]))
    else:
        stride = 1
    if explicit_padding:
        padding = draw(
            st.one_of(
                st.integers(0, 2),
                st.tuples(
                    st.tuples(st.integers(0, 2), st.integers(0, 2)),
                    st.tuples(st.integers(0, 2), st.integers(0, 2)),
                ),
            )
        )
        pads = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    else:
        padding = draw(st.sampled_from(["same", "valid", "SAME", "VALID"]))
        pads = ((0, 0), (0, 0))
    dh, dw = _as_pair(dilation)
    # VALID needs the (padded) input to hold one dilated kernel; SAME takes any size >= 1.
    min_h = 1 if padding in ("same", "SAME") else max(1, (kh - 1) * dh + 1 - sum(pads[0]))
    min_w = 1 if padding in ("same", "SAME") else max(1, (kw - 1) * dw + 1 - sum(pads[1]))
    return dict(
        n=draw(st.sampled_from([1, 2])),
        h=draw(st.integers(min_h, min_h + 5)),
        w=draw(st.integers(min_w, min_w + 5)),
        c_in=draw(st.integers(1, 3)),
        c_out=draw(st.integers(1, 3)),
        kernel=(kh, kw),
        stride=stride,
        dilation=dilation,
        padding=padding,
        bias=draw(st.booleans()),
        seed=draw(seeds),
    )


def _conv2d_arrays(c, dtype=np.float32):
    rng = np.random.default_rng(c["seed"])
    kh, kw = c["kernel"]
    fan_in = kh * kw * c["c_in"]
    x = randn(rng, (c["n"], c["h"], c["w"], c["c_in"]), dtype)
    k = randn(rng, (kh, kw, c["c_in"], c["c_out"]), dtype, scale=fan_in**-0.5)
    b = randn(rng, (c["c_out"],), dtype) if c["bias"] else None
    return x, k, b


def _keras_conv2d(c, x, k, b, dtype="float32"):
    layer = keras.layers.Conv2D(
        c["c_out"],
        c["kernel"],
        strides=c["stride"],
        padding=c["padding"].lower(),
        dilation_rate=c["dilation"],
        use_bias=b is not None,
        kernel_initializer=constant(k),
        bias_initializer="zeros" if b is None else constant(b),
        dtype=dtype,
    )
    return built(layer, x.shape, [k] if b is None else [k, b])


def _our_conv2d(c):
    return jax.jit(partial(ops.conv2d, stride=c["stride"], padding=c["padding"], dilation=c["dilation"]))


# --------------------------------------------------------------------------- conv2d / conv1d


@given(conv2d_cases())
def test_conv2d_matches_keras_conv2d(c):
    x, k, b = _conv2d_arrays(c)
    expected = keras_forward(_keras_conv2d(c, x, k, b), x)
    got = _our_conv2d(c)(x, k, b)
    _check_same(got, expected, what=f"conv2d {c}")
    if b is None:
        # The layer adds nothing to keras.ops.conv without a bias; check the op as well.
        with keras_numerics():
            expected_op = keras.ops.conv(
                x, k, strides=c["stride"], padding=c["padding"].lower(), dilation_rate=c["dilation"]
            )
        _check_same(got, expected_op, what=f"conv2d vs keras.ops.conv {c}")


@HALF
@given(conv2d_cases(explicit_padding=True))
def test_conv2d_explicit_padding_matches_keras_zero_padding_then_valid_conv(c):
    """An int or ((top, bottom), (left, right)) pads with zeros, as ZeroPadding2D does."""
    x, k, b = _conv2d_arrays(c)
    with keras_numerics():
        x_padded = np.asarray(keras.layers.ZeroPadding2D(c["padding"])(x))
    layer = _keras_conv2d(dict(c, padding="valid"), x_padded, k, b)
    expected = keras_forward(layer, x_padded)
    got = _our_conv2d(c)(x, k, b)
    _check_same(got, expected, what=f"conv2d {c}")


@FEWER
@given(conv2d_cases())
def test_conv2d_gradients_match_keras(c):
    x, k, b = _conv2d_arrays(c)
    layer = _keras_conv2d(c, x, k, b)
    cot = randn(np.random.default_rng(c["seed"] + 1), keras_forward(layer, x).shape)
    dx_k, dw_k = keras_grads(layer, x, cot)
    fn = _our_conv2d(c)
    args = (x, k) if b is None else (x, k, b)
    got = our_grads(lambda *a: fn(*a) if len(a) == 3 else fn(*a, None), args, cot)
    for name, g, e in zip(["x", "kernel", "bias"], got, [dx_k, *dw_k]):
        _check_same(g, e, grad=True, what=f"d/d{name} conv2d {c}")


@st.composite
def conv1d_cases(draw):
    k = draw(st.integers(1, 4))
    dilation = draw(st.sampled_from([1, 1, 2, 3]))
    stride = draw(st.sampled_from([1, 2, 3])) if dilation == 1 else 1
    padding = draw(st.sampled_from(["same", "valid", "SAME", "VALID", 0, 1, 2]))
    explicit = padding if isinstance(padding, int) else 0
    min_l = 1 if padding in ("same", "SAME") else max(1, (k - 1) * dilation + 1 - 2 * explicit)
    return dict(
        n=draw(st.sampled_from([1, 3])),
        length=draw(st.integers(min_l, min_l + 6)),
        c_in=draw(st.integers(1, 3)),
        c_out=draw(st.integers(1, 3)),
        kernel=k,
        stride=stride,
        dilation=dilation,
        padding=padding,
        bias=draw(st.booleans()),
        seed=draw(seeds),
    )


@HALF
@given(conv1d_cases())
def test_conv1d_matches_keras_conv1d(c):
    rng = np.random.default_rng(c["seed"])
    x = randn(rng, (c["n"], c["length"], c["c_in"]))
    k = randn(rng, (c["kernel"], c["c_in"], c["c_out"]), scale=(c["kernel"] * c["c_in"]) ** -0.5)
    b = randn(rng, (c["c_out"],)) if c["bias"] else None
    x_keras, keras_padding = x, c["padding"]
    if isinstance(c["padding"], int):
        with keras_numerics():
            x_keras = np.asarray(keras.layers.ZeroPadding1D(c["padding"])(x))
        keras_padding = "valid"
    layer = keras.layers.Conv1D(
        c["c_out"],
        c["kernel"],
        strides=c["stride"],
        padding=keras_padding.lower(),
        dilation_rate=c["dilation"],
        use_bias=c["bias"],
        kernel_initializer=constant(k),
        bias_initializer="zeros" if b is None else constant(b),
    )
    expected = keras_forward(built(layer, x_keras.shape, [k] if b is None else [k, b]), x_keras)
    fn = jax.jit(partial(ops.conv1d, stride=c["stride"], padding=c["padding"], dilation=c["dilation"]))
    _check_same(fn(x, k, b), expected, what=f"conv1d {c}")


# --------------------------------------------------------------------------- conv2d_transpose


@st.composite
def conv2d_transpose_cases(draw):
    """Conv2DTranspose configurations Keras accepts: output_padding < stride, and
    dilation > 1 only with stride 1.

    Inputs are at least as large as the kernel. Smaller ones can abort the whole process:
    XLA's CPU compiler (jaxlib 0.10.2) fails a check in `algebraic_simplifier.cc` ("Window
    dimensions do not match RHS shape") on some of the lhs-dilated convolutions that Keras's
    `conv_transpose` lowers to, e.g. x (1, 5, 1, 1), kernel (2, 2), strides (2, 3),
    padding "same", output_padding (0, 1). Smaller inputs are covered by the corner cases below.
    """
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dilation = draw(st.sampled_from([1, 1, 1, 1, 2, (1, 2)]))
    if _as_pair(dilation) == (1, 1):
        stride = draw(st.sampled_from([1, 2, 3, (2, 3), (3, 1)]))
    else:
        stride = 1
    sh, sw = _as_pair(stride)
    output_padding = draw(
        st.one_of(
            st.none(),
            st.tuples(st.integers(0, sh - 1), st.integers(0, sw - 1)),
        )
    )
    return dict(
        n=draw(st.sampled_from([1, 2])),
        h=draw(st.integers(kh, kh + 4)),
        w=draw(st.integers(kw, kw + 4)),
        c_in=draw(st.integers(1, 3)),
        c_out=draw(st.integers(1, 3)),
        kernel=(kh, kw),
        stride=stride,
        dilation=dilation,
        padding=draw(st.sampled_from(["same", "valid", "SAME", "VALID"])),
        output_padding=output_padding,
        bias=draw(st.booleans()),
        seed=draw(seeds),
    )


def keras_conv_transpose_size(size, kernel, stride, padding, output_padding, dilation):
    """Output length of Keras Conv2DTranspose along one axis, as Keras's
    `backend_utils._get_output_shape_given_tf_padding` computes it."""
    k = (kernel - 1) * dilation + 1
    if padding.lower() == "valid":
        op = max(k, stride) - k if output_padding is None else output_padding
        return (size - 1) * stride + k + op
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + k % 2 + output_padding


def _conv2d_transpose_output_is_empty(c):
    op = c["output_padding"] or (None, None)
    return any(
        keras_conv_transpose_size(size, k, s, c["padding"], o, d) < 1
        for size, k, s, o, d in zip((c["h"], c["w"]), c["kernel"], _as_pair(c["stride"]), op, _as_pair(c["dilation"]))
    )


def _conv2d_transpose_arrays(c, dtype=np.float32):
    rng = np.random.default_rng(c["seed"])
    kh, kw = c["kernel"]
    x = randn(rng, (c["n"], c["h"], c["w"], c["c_in"]), dtype)
    # (KH, KW, C_out, C_in): the layout Keras stores for Conv2DTranspose.
    k = randn(rng, (kh, kw, c["c_out"], c["c_in"]), dtype, scale=(kh * kw * c["c_in"]) ** -0.5)
    b = randn(rng, (c["c_out"],), dtype) if c["bias"] else None
    return x, k, b


def _keras_conv2d_transpose(c, x, k, b):
    layer = keras.layers.Conv2DTranspose(
        c["c_out"],
        c["kernel"],
        strides=c["stride"],
        padding=c["padding"].lower(),
        output_padding=c["output_padding"],
        dilation_rate=c["dilation"],
        use_bias=b is not None,
        kernel_initializer=constant(k),
        bias_initializer="zeros" if b is None else constant(b),
    )
    return built(layer, x.shape, [k] if b is None else [k, b])


def _our_conv2d_transpose(c):
    return jax.jit(
        partial(
            ops.conv2d_transpose,
            stride=c["stride"],
            padding=c["padding"],
            output_padding=c["output_padding"],
            dilation=c["dilation"],
        )
    )


@given(conv2d_transpose_cases())
def test_conv2d_transpose_matches_keras_conv2d_transpose(c):
    # SAME with an explicit output_padding can ask for an empty output, e.g. kernel 2,
    # stride 1, output_padding 0 on a length-1 input gives (1-1)*1 + 2%2 + 0 = 0.
    assume(not _conv2d_transpose_output_is_empty(c))
    x, k, b = _conv2d_transpose_arrays(c)
    expected = keras_forward(_keras_conv2d_transpose(c, x, k, b), x)
    got = _our_conv2d_transpose(c)(x, k, b)
    _check_same(got, expected, what=f"conv2d_transpose {c}")


# Corner cases of the Keras output-size rules, one per axis, that a 25-example sweep may
# miss: stride > kernel (VALID pads up to the stride, SAME clamps the left padding at
# kernel-1), even kernels with and without output_padding, dilation with SAME, and inputs
# smaller than the kernel (in shapes that XLA compiles, see `conv2d_transpose_cases`).
@pytest.mark.parametrize(
    "size, kernel, stride, padding, output_padding, dilation",
    [
        ((4, 3), (1, 2), 3, "valid", None, 1),
        ((4, 3), (1, 2), 3, "same", None, 1),
        ((4, 3), (2, 4), 2, "same", (1, 1), 1),
        ((4, 3), (4, 2), (2, 1), "same", None, 1),
        ((4, 3), (3, 3), (3, 2), "valid", (2, 1), 1),
        ((4, 3), (3, 2), (2, 3), "same", (0, 2), 1),
        ((4, 3), (2, 3), 1, "same", (0, 0), 2),
        ((4, 3), (3, 2), 1, "valid", None, (2, 3)),
        ((1, 3), (3, 1), (2, 1), "same", None, 1),
        ((2, 4), (4, 1), (3, 1), "same", (2, 0), 1),
        ((1, 2), (3, 1), (3, 1), "valid", None, 1),
        ((2, 1), (4, 3), 1, "same", None, 1),
    ],
)
def test_conv2d_transpose_output_size_corner_cases(size, kernel, stride, padding, output_padding, dilation):
    c = dict(
        n=1,
        h=size[0],
        w=size[1],
        c_in=2,
        c_out=3,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        output_padding=output_padding,
        bias=True,
        seed=sum(kernel),
    )
    x, k, b = _conv2d_transpose_arrays(c)
    expected = keras_forward(_keras_conv2d_transpose(c, x, k, b), x)
    assert expected.shape[1:3] == tuple(
        keras_conv_transpose_size(n, kk, s, padding, o, d)
        for n, kk, s, o, d in zip(size, kernel, _as_pair(stride), output_padding or (None, None), _as_pair(dilation))
    )
    _check_same(_our_conv2d_transpose(c)(x, k, b), expected, what=f"conv2d_transpose {c}")


@FEWER
@given(conv2d_transpose_cases())
def test_conv2d_transpose_gradients_match_keras(c):
    assume(not _conv2d_transpose_output_is_empty(c))
    x, k, b = _conv2d_transpose_arrays(c)
    layer = _keras_conv2d_transpose(c, x, k, b)
    cot = randn(np.random.default_rng(c["seed"] + 1), keras_forward(layer, x).shape)
    dx_k, dw_k = keras_grads(layer, x, cot)
    fn = _our_conv2d_transpose(c)
    args = (x, k) if b is None else (x, k, b)
    got = our_grads(lambda *a: fn(*a) if len(a) == 3 else fn(*a, None), args, cot)
    for name, g, e in zip(["x", "kernel", "bias"], got, [dx_k, *dw_k]):
        _check_same(g, e, grad=True, what=f"d/d{name} conv2d_transpose {c}")


# --------------------------------------------------------------------------- pooling

_KERAS_POOL = {
    ("max", 2): (keras.layers.MaxPooling2D, "max_pool2d"),
    ("avg", 2): (keras.layers.AveragePooling2D, "avg_pool2d"),
    ("max", 1): (keras.layers.MaxPooling1D, "max_pool1d"),
    ("avg", 1): (keras.layers.AveragePooling1D, "avg_pool1d"),
}


@st.composite
def pool_cases(draw, rank):
    window = tuple(draw(st.integers(1, 3)) for _ in range(rank))  # non-square included
    stride = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3) for _ in range(rank)])))
    padding = draw(st.sampled_from(["same", "valid", "SAME", "VALID"]))
    # VALID needs at least one full window; odd sizes and sizes the stride does not divide.
    sizes = tuple(draw(st.integers(1 if padding.lower() == "same" else w, w + 5)) for w in window)
    return dict(
        kind=draw(st.sampled_from(["max", "avg"])),
        n=draw(st.sampled_from([1, 2])),
        sizes=sizes,
        c=draw(st.integers(1, 3)),
        # Our ops take an int for a square/1-D window; Keras takes either.
        window=window[0] if draw(st.booleans()) and len(set(window)) == 1 else window,
        stride=stride,
        padding=padding,
        seed=draw(seeds),
    )


def _pool_pair(c, rank, dtype="float32"):
    keras_cls, name = _KERAS_POOL[(c["kind"], rank)]
    layer = keras_cls(pool_size=c["window"], strides=c["stride"], padding=c["padding"].lower(), dtype=dtype)
    ours = jax.jit(partial(getattr(ops, name), window=c["window"], stride=c["stride"], padding=c["padding"]))
    return layer, ours


@given(pool_cases(rank=2))
def test_pool2d_matches_keras(c):
    x = randn(np.random.default_rng(c["seed"]), (c["n"], *c["sizes"], c["c"]))
    layer, ours = _pool_pair(c, rank=2)
    _check_same(ours(x), keras_forward(layer, x), what=f"{c['kind']}_pool2d {c}")


@HALF
@given(pool_cases(rank=1))
def test_pool1d_matches_keras(c):
    x = randn(np.random.default_rng(c["seed"]), (c["n"], *c["sizes"], c["c"]))
    layer, ours = _pool_pair(c, rank=1)
    _check_same(ours(x), keras_forward(layer, x), what=f"{c['kind']}_pool1d {c}")


@FEWER
@given(pool_cases(rank=2))
def test_pool2d_gradients_match_keras(c):
    rng = np.random.default_rng(c["seed"])
    x = randn(rng, (c["n"], *c["sizes"], c["c"]))
    layer, ours = _pool_pair(c, rank=2)
    cot = randn(rng, keras_forward(layer, x).shape)
    dx_k, _ = keras_grads(layer, x, cot)
    (dx,) = our_grads(ours, (x,), cot)
    _check_same(dx, dx_k, grad=True, what=f"d/dx {c['kind']}_pool2d {c}")


def test_avg_pool2d_same_excludes_padding_like_keras():
    """A literal case: on all-ones input every SAME window averages to exactly 1 in Keras;
    counting the padded zeros would give 4/9, 6/9, ... at the borders."""
    x = np.ones((1, 4, 5, 1), np.float32)
    layer = keras.layers.AveragePooling2D(3, strides=2, padding="same")
    expected = keras_forward(layer, x)
    np.testing.assert_array_equal(expected, np.ones((1, 2, 3, 1), np.float32))
    _check_same(ops.avg_pool2d(x, 3, stride=2, padding="SAME"), expected, what="avg_pool2d")


# --------------------------------------------------------------------------- upsample2d


@st.composite
def upsample_cases(draw):
    return dict(
        n=draw(st.sampled_from([1, 2])),
        h=draw(st.integers(1, 5)),
        w=draw(st.integers(1, 5)),
        c=draw(st.integers(1, 3)),
        scale=draw(st.sampled_from([1, 2, 3, (2, 3), (3, 1), (1, 2)])),
        method=draw(st.sampled_from(["nearest", "bilinear"])),
        seed=draw(seeds),
    )


def _upsample_pair(c, dtype="float32"):
    layer = keras.layers.UpSampling2D(size=_as_pair(c["scale"]), interpolation=c["method"], dtype=dtype)
    ours = jax.jit(partial(ops.upsample2d, scale=c["scale"], method=c["method"]))
    return layer, ours


@given(upsample_cases())
def test_upsample2d_matches_keras_upsampling2d(c):
    x = randn(np.random.default_rng(c["seed"]), (c["n"], c["h"], c["w"], c["c"]))
    layer, ours = _upsample_pair(c)
    _check_same(ours(x), keras_forward(layer, x), what=f"upsample2d {c}")


@FEWER
@given(upsample_cases())
def test_upsample2d_gradients_match_keras(c):
    rng = np.random.default_rng(c["seed"])
    x = randn(rng, (c["n"], c["h"], c["w"], c["c"]))
    layer, ours = _upsample_pair(c)
    cot = randn(rng, keras_forward(layer, x).shape)
    dx_k, _ = keras_grads(layer, x, cot)
    (dx,) = our_grads(ours, (x,), cot)
    _check_same(dx, dx_k, grad=True, what=f"d/dx upsample2d {c}")


# --------------------------------------------------------------------------- batch_norm

# (shape, axis): NHWC and (N, C) with the default axis, and one channels-second layout.
BN_LAYOUTS = [((4, 5, 3, 3), -1), ((2, 3, 3, 2), -1), ((8, 4), -1), ((3, 5), -1), ((2, 3, 4, 2), 1)]


def _bn_arrays(shape, axis, seed):
    rng = np.random.default_rng(seed)
    c = shape[axis]
    bshape = [1] * len(shape)
    bshape[axis] = c
    # Per-channel offsets and scales, so that normalising over the wrong axes shows.
    x = randn(rng, shape) * rng.uniform(0.5, 3.0, bshape).astype(np.float32) + randn(rng, bshape)
    gamma = rng.uniform(0.5, 2.0, c).astype(np.float32)
    beta = randn(rng, (c,))
    moving_mean = randn(rng, (c,))
    moving_var = rng.uniform(0.5, 2.0, c).astype(np.float32)
    return x.astype(np.float32), gamma, beta, moving_mean, moving_var


def _keras_bn(x, axis, momentum, epsilon, weights):
    gamma, beta, moving_mean, moving_var = weights
    layer = keras.layers.BatchNormalization(
        axis=axis,
        momentum=momentum,
        epsilon=epsilon,
        gamma_initializer=constant(gamma),
        beta_initializer=constant(beta),
        moving_mean_initializer=constant(moving_mean),
        moving_variance_initializer=constant(moving_var),
    )
    return built(layer, x.shape, weights)


# Momentum not 0.5: it is its own complement and would not tell Keras's from PyTorch's.
@pytest.mark.parametrize("shape, axis", BN_LAYOUTS)
@pytest.mark.parametrize("momentum, epsilon", [(0.9, 1e-5), (0.7, 0.1)])
def test_batch_norm_training_matches_keras_output_and_moving_stats(shape, axis, momentum, epsilon):
    x, gamma, beta, mm, mv = _bn_arrays(shape, axis, seed=len(shape) * 7 + shape[0])
    layer = _keras_bn(x, axis, momentum, epsilon, [gamma, beta, mm, mv])
    expected = keras_forward(layer, x, training=True)
    y, new_mean, new_var = jax.jit(
        partial(ops.batch_norm, training=True, momentum=momentum, epsilon=epsilon, axis=axis)
    )(x, gamma, beta, mm, mv)
    _check_same(y, expected, what="batch_norm(training) output")
    _check_same(new_mean, np.asarray(layer.moving_mean.value), what="batch_norm new moving mean")
    _check_same(new_var, np.asarray(layer.moving_variance.value), what="batch_norm new moving variance")


@pytest.mark.parametrize("shape, axis", BN_LAYOUTS)
def test_batch_norm_inference_matches_keras(shape, axis):
    x, gamma, beta, mm, mv = _bn_arrays(shape, axis, seed=3 + shape[-1])
    layer = _keras_bn(x, axis, 0.8, 1e-2, [gamma, beta, mm, mv])
    expected = keras_forward(layer, x, training=False)
    y, new_mean, new_var = jax.jit(partial(ops.batch_norm, training=False, momentum=0.8, epsilon=1e-2, axis=axis))(
        x, gamma, beta, mm, mv
    )
    _check_same(y, expected, what="batch_norm(inference) output")
    # Inference leaves the statistics alone, in Keras and in ours.
    np.testing.assert_array_equal(np.asarray(layer.moving_mean.value), mm)
    np.testing.assert_array_equal(np.asarray(new_mean), mm)
    np.testing.assert_array_equal(np.asarray(new_var), mv)


@pytest.mark.parametrize("shape, axis", BN_LAYOUTS[:4])
def test_batch_norm_training_gradients_match_keras(shape, axis):
    x, gamma, beta, mm, mv = _bn_arrays(shape, axis, seed=11 + shape[0])
    layer = _keras_bn(x, axis, 0.9, 1e-3, [gamma, beta, mm, mv])
    cot = randn(np.random.default_rng(5), shape)
    dx_k, (dgamma_k, dbeta_k) = keras_grads(layer, x, cot, training=True)
    fn = partial(ops.batch_norm, training=True, momentum=0.9, epsilon=1e-3, axis=axis)
    got = our_grads(lambda x, g, b: fn(x, g, b, mm, mv)[0], (x, gamma, beta), cot)
    for name, g, e in zip(["x", "gamma", "beta"], got, [dx_k, dgamma_k, dbeta_k]):
        _check_same(g, e, grad=True, what=f"d/d{name} batch_norm(training) {shape}")


# --------------------------------------------------------------------------- dense, flatten


@pytest.mark.parametrize("n, d_in, d_out, bias", [(1, 3, 2, True), (5, 7, 4, False), (4, 16, 10, True)])
def test_dense_matches_keras_dense(n, d_in, d_out, bias):
    rng = np.random.default_rng(n * 100 + d_in)
    x = randn(rng, (n, d_in))
    k = randn(rng, (d_in, d_out), scale=d_in**-0.5)
    b = randn(rng, (d_out,)) if bias else None
    layer = keras.layers.Dense(
        d_out,
        use_bias=bias,
        kernel_initializer=constant(k),
        bias_initializer="zeros" if b is None else constant(b),
    )
    layer = built(layer, x.shape, [k] if b is None else [k, b])
    _check_same(jax.jit(ops.dense)(x, k, b), keras_forward(layer, x), what="dense")


def test_flatten_matches_keras_flatten():
    x = randn(np.random.default_rng(0), (2, 3, 4, 5))
    _check_same(ops.flatten(x), keras_forward(keras.layers.Flatten(), x), what="flatten")


# --------------------------------------------------------------------------- activations


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_elementwise_activations_match_keras(name):
    # Large magnitudes included: sigmoid and tanh must saturate, not overflow.
    x = np.concatenate(
        [
            randn(np.random.default_rng(1), (4, 7), scale=3.0),
            np.float32([[-60, -20, 20, 60, 0.5, -0.5, 1e-3]]),
        ]
    )
    with keras_numerics():
        expected = np.asarray(getattr(keras.activations, name)(x))
    got = jax.jit(getattr(ops, name))(x)
    _check_same(got, expected, what=name)
    # Gradients too (no exact zeros in x, so relu's kink is not hit).
    with keras_numerics():
        dk = jax.grad(lambda v: jnp.sum(getattr(keras.activations, name)(v) * x))(x)
    (d,) = our_grads(getattr(ops, name), (x,), x)
    _check_same(d, dk, grad=True, what=f"d/dx {name}")


@pytest.mark.parametrize("shape, axis", [((4, 10), -1), ((2, 3, 5), 1), ((2, 3, 5), -1), ((3, 6), 0)])
def test_softmax_matches_keras(shape, axis):
    x = randn(np.random.default_rng(2), shape, scale=4.0)
    x[0, ...] += 80.0  # large logits: a naive exp overflows in float32
    with keras_numerics():
        expected = np.asarray(keras.activations.softmax(x, axis=axis))
    got = jax.jit(partial(ops.softmax, axis=axis))(x)
    _check_same(got, expected, what=f"softmax axis={axis}")


# --------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("rate", [0.25, 0.6])
def test_dropout_follows_keras_rate_convention(rate):
    """`rate` is the probability to drop, kept values are scaled by 1/(1-rate), as Keras's
    Dropout does. The masks come from different generators, so the rule is compared, not
    the draws: the Keras layer is run through the same checks to keep the claim honest."""
    x = np.random.default_rng(3).uniform(1.0, 2.0, (64, 64)).astype(np.float32)  # no zeros
    with keras_numerics():
        keras_out = np.asarray(keras.layers.Dropout(rate, seed=0)(x, training=True))
        keras_eval = np.asarray(keras.layers.Dropout(rate, seed=0)(x, training=False))
    ours = np.asarray(ops.dropout(x, rate, key=jax.random.key(0), training=True))
    ours_eval = np.asarray(ops.dropout(x, rate, key=jax.random.key(0), training=False))
    n = x.size
    for what, out in [("keras", keras_out), ("ours", ours)]:
        kept = out != 0
        assert_close(out[kept], x[kept] / (1.0 - rate), err_msg=f"{what}: kept values")
        # Dropped fraction within 5 binomial standard deviations of `rate`.
        dropped = (~kept).mean()
        assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / n), (what, dropped)
        assert out.dtype == x.dtype
    np.testing.assert_array_equal(keras_eval, x)
    np.testing.assert_array_equal(ours_eval, x)


# --------------------------------------------------------------------------- losses


def _bce_inputs(from_logits):
    rng = np.random.default_rng(4)
    target = rng.uniform(0.0, 1.0, (6, 5)).astype(np.float32)
    target[:3] = np.round(target[:3])  # hard and soft labels
    if from_logits:
        pred = randn(rng, (6, 5), scale=3.0)
        pred[0, :4] = [-40.0, 40.0, -90.0, 90.0]  # where log(sigmoid) underflows naively
    else:
        pred = rng.uniform(0.0, 1.0, (6, 5)).astype(np.float32)
        pred[0, :4] = [0.0, 1.0, 1e-9, 1.0 - 1e-8]  # clipped to [1e-7, 1 - 1e-7], like Keras
    return pred, target


LOSSES = {
    "bce": (lambda: keras.losses.BinaryCrossentropy(), lambda p, t: ops.binary_crossentropy(p, t)),
    "bce_logits": (
        lambda: keras.losses.BinaryCrossentropy(from_logits=True),
        lambda p, t: ops.binary_crossentropy(p, t, from_logits=True),
    ),
    "mse": (lambda: keras.losses.MeanSquaredError(), lambda p, t: ops.mse(p, t)),
    "mae": (lambda: keras.losses.MeanAbsoluteError(), lambda p, t: ops.mae(p, t)),
    "sce": (
        lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        lambda p, t: ops.softmax_cross_entropy(p, t),
    ),
}


def _loss_inputs(name):
    rng = np.random.default_rng(5)
    if name in ("bce", "bce_logits"):
        return _bce_inputs(name == "bce_logits")
    if name == "sce":
        logits = randn(rng, (7, 4), scale=3.0)
        logits[0] = [100.0, -100.0, 0.0, 50.0]  # a naive exp overflows
        return logits, rng.integers(0, 4, 7).astype(np.int32)
    return randn(rng, (6, 5)), randn(rng, (6, 5))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_match_keras_losses(name):
    make_keras, ours = LOSSES[name]
    pred, target = _loss_inputs(name)
    keras_loss = make_keras()
    with keras_numerics():
        expected = np.asarray(keras_loss(target, pred))  # Keras takes (y_true, y_pred)
        d_expected = np.asarray(jax.grad(lambda p: keras_loss(target, p))(jnp.asarray(pred)))
    got = jax.jit(ours)(pred, target)
    _check_same(got, expected, what=name)
    d_got = np.asarray(jax.jit(jax.grad(ours))(pred, target))
    _check_same(d_got, d_expected, grad=True, what=f"d/dpred {name}")


# --------------------------------------------------------------------------- bfloat16

BF16 = jnp.bfloat16


@pytest.mark.parametrize("stride, padding", [(1, "same"), (2, "same"), (2, "valid"), ((1, 3), "valid")])
def test_conv2d_bfloat16_matches_keras(stride, padding):
    c = dict(
        n=2, h=7, w=8, c_in=3, c_out=4, kernel=(3, 2), stride=stride, dilation=1, padding=padding, bias=True, seed=7
    )
    x, k, b = _conv2d_arrays(c, dtype=BF16)
    expected = keras_forward(_keras_conv2d(c, x, k, b, dtype="bfloat16"), x)
    _check_same(_our_conv2d(c)(x, k, b), expected, what=f"bf16 conv2d {c}")


def test_conv2d_transpose_bfloat16_matches_keras():
    c = dict(
        n=2,
        h=4,
        w=5,
        c_in=3,
        c_out=2,
        kernel=(3, 3),
        stride=2,
        dilation=1,
        padding="same",
        output_padding=None,
        bias=True,
        seed=8,
    )
    x, k, b = _conv2d_transpose_arrays(c, dtype=BF16)
    layer = keras.layers.Conv2DTranspose(
        2,
        (3, 3),
        strides=2,
        padding="same",
        kernel_initializer=constant(k),
        bias_initializer=constant(b),
        dtype="bfloat16",
    )
    expected = keras_forward(built(layer, x.shape, [k, b]), x)
    _check_same(_our_conv2d_transpose(c)(x, k, b), expected, what="bf16 conv2d_transpose")


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d_bfloat16_matches_keras(kind):
    c = dict(kind=kind, n=2, sizes=(7, 6), c=3, window=(3, 2), stride=2, padding="same", seed=9)
    x = randn(np.random.default_rng(9), (2, 7, 6, 3), BF16)
    layer, ours = _pool_pair(c, rank=2, dtype="bfloat16")
    _check_same(ours(x), keras_forward(layer, x), what=f"bf16 {kind}_pool2d")


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
def test_upsample2d_bfloat16_matches_keras(method):
    c = dict(scale=(2, 3), method=method)
    x = randn(np.random.default_rng(10), (2, 4, 3, 2), BF16)
    layer, ours = _upsample_pair(c, dtype="bfloat16")
    _check_same(ours(x), keras_forward(layer, x), what=f"bf16 upsample2d {method}")


def test_dense_bfloat16_matches_keras():
    rng = np.random.default_rng(11)
    x, k, b = randn(rng, (4, 24), BF16), randn(rng, (24, 8), BF16, 24**-0.5), randn(rng, (8,), BF16)
    layer = keras.layers.Dense(8, kernel_initializer=constant(k), bias_initializer=constant(b), dtype="bfloat16")
    layer = built(layer, x.shape, [k, b])
    _check_same(jax.jit(ops.dense)(x, k, b), keras_forward(layer, x), what="bf16 dense")
