"""NaN in, NaN out: no operator hides a NaN, so the training guard can see it.

Each op gets an input holding a NaN (and infinities where they matter) and is compared
with PyTorch (float64) or jax.nn / jax.lax; `assert_close` compares NaN positions too
(`np.testing.assert_allclose` has `equal_nan=True`), so a NaN turned into a number, or a
number turned into a NaN, fails.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from jax import lax

from cnnlab import ops
from tests.ops.torch_helpers import channels_first, channels_last, kernel_to_torch, t64, to_np
from tests.tolerances import assert_close

NAN = np.float32(np.nan)


def _vjp(f, x, up):
    """`(f(x), vjp(up))` in one compiled program (eager ops compile one by one: 4x slower)."""

    def both(x, up):
        y, back = jax.vjp(f, x)
        return y, back(up)[0]

    return jax.jit(both)(jnp.asarray(x), jnp.asarray(up))


def _image(shape, nan_at, seed=0):
    """Standard-normal float32 NHWC/NLC values, with NaN at each index in `nan_at`."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    for index in nan_at:
        x[index] = NAN
    return x


# ---- activations ---------------------------------------------------------------------------

SPECIAL = np.array([-2.0, -0.0, 0.0, 0.5, np.nan, np.inf, -np.inf, 3.0], np.float32)


def test_relu_keeps_nan_like_jax_nn_and_torch():
    got = jax.jit(ops.relu)(jnp.asarray(SPECIAL))
    assert_close(got, jax.nn.relu(jnp.asarray(SPECIAL)))
    assert_close(got, to_np(torch.relu(t64(SPECIAL))))


def test_relu_gradient_matches_torch_zero_at_zero_and_passes_nan_through():
    # Upstream gradient with a NaN where x > 0 and where x is NaN: both must stay NaN.
    up = np.array([1.0, 2.0, 3.0, np.nan, np.nan, 5.0, 6.0, 7.0], np.float32)
    _, grad = _vjp(ops.relu, SPECIAL, up)
    x = t64(SPECIAL, requires_grad=True)
    torch.relu(x).backward(t64(up))
    assert_close(grad, to_np(x.grad))


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
@pytest.mark.parametrize(
    "ours, theirs",
    [
        (ops.sigmoid, torch.sigmoid),
        (ops.tanh, torch.tanh),
        (partial(ops.softmax, axis=-1), partial(torch.softmax, dim=-1)),
        (partial(ops.log_softmax, axis=-1), partial(torch.log_softmax, dim=-1)),
    ],
    ids=["sigmoid", "tanh", "softmax", "log_softmax"],
)
def test_smooth_activations_propagate_nan_forward_and_backward(ours, theirs):
    x = _image((3, 5), [(0, 1)])  # row 0 holds a NaN, rows 1 and 2 do not
    up = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    y, grad = _vjp(ours, x, up)
    xt = t64(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(t64(up))
    assert_close(y, to_np(yt))
    assert_close(grad, to_np(xt.grad), grad=True)


def test_dropout_keeps_nan_where_it_keeps_and_zeroes_only_what_it_drops():
    # Keras's rule (`where(keep, x / (1 - rate), 0)`): a kept NaN stays NaN, a dropped one is 0.
    # A NaN is never turned into a finite non-zero number, and finite values are scaled by 2.
    x = np.where(np.arange(4000) % 2 == 0, NAN, np.float32(1.0)).astype(np.float32)
    y = np.asarray(jax.jit(partial(ops.dropout, rate=0.5, training=True))(jnp.asarray(x), key=jax.random.key(3)))
    nan_in, nan_out = np.isnan(x), np.isnan(y)
    assert not nan_out[~nan_in].any()
    assert set(np.unique(y[nan_in & ~nan_out])) == {0.0}
    assert set(np.unique(y[~nan_in])) <= {0.0, 2.0}
    assert 0.45 < nan_out[nan_in].mean() < 0.55  # about half the NaNs kept, as NaN


# ---- pooling -------------------------------------------------------------------------------

# (window, stride, padding, NaN positions): tiled windows (the custom-JVP tree), a window
# of more than 16 taps (one reshape and a max), overlapping windows, -inf padding beside a
# NaN in a corner, and a window where the NaN sits among all-negative pixels.
MAX_CASES = [
    (2, 2, 0, [(0, 1, 1, 0)]),
    (3, 3, 0, [(0, 4, 4, 1)]),
    (5, 5, 0, [(1, 2, 7, 0)]),
    (3, 1, 0, [(0, 3, 3, 0)]),
    (3, 2, 1, [(0, 0, 0, 0), (1, 9, 9, 1)]),
    (2, 2, 1, [(0, 0, 0, 1)]),
]


@pytest.mark.parametrize("window, stride, pad, nan_at", MAX_CASES)
def test_max_pool2d_window_with_nan_gives_nan_as_torch(window, stride, pad, nan_at):
    x = _image((2, 10, 10, 2), nan_at)
    x[1, :, :, 0] = -np.abs(x[1, :, :, 0]) - 1  # all-negative: the -inf padding must not win
    got = jax.jit(partial(ops.max_pool2d, window=window, stride=stride, padding=pad))(jnp.asarray(x))
    want = channels_last(F.max_pool2d(channels_first(x), window, stride, pad))
    assert_close(got, want)


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
@pytest.mark.parametrize("window, stride", [(2, 2), (3, 1), (3, 2)])
def test_max_pool2d_same_padding_with_nan_matches_reduce_window(window, stride):
    x = _image((1, 7, 7, 2), [(0, 6, 6, 0), (0, 2, 3, 1)])
    got = jax.jit(partial(ops.max_pool2d, window=window, stride=stride, padding="SAME"))(jnp.asarray(x))
    want = lax.reduce_window(jnp.asarray(x), -jnp.inf, lax.max, (1, window, window, 1), (1, stride, stride, 1), "SAME")
    assert_close(got, want)


@pytest.mark.parametrize("window, stride", [(2, 2), pytest.param(3, 3, marks=pytest.mark.slow), (3, 1)])
def test_max_pool2d_gradient_with_nan_matches_torch_off_the_nan(window, stride):
    # One NaN per window. Away from the NaN pixel every gradient equals PyTorch's; the NaN
    # pixel's own share follows jnp.maximum's rule (0), where PyTorch routes the gradient to it.
    x = _image((1, 6, 6, 1), [(0, 1, 1, 0)], seed=2)
    out = ops.conv_output_size((6, 6), (window,) * 2, stride=stride)
    up = np.random.default_rng(3).uniform(0.5, 2.0, (1, *out, 1)).astype(np.float32)
    _, g = _vjp(partial(ops.max_pool2d, window=window, stride=stride), x, up)
    xt = channels_first(x).requires_grad_(True)
    F.max_pool2d(xt, window, stride).backward(channels_first(up))
    finite = ~np.isnan(x)
    assert_close(np.asarray(g)[finite], channels_last(xt.grad)[finite], grad=True)


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool1d_with_nan_matches_torch(kind):
    x = _image((2, 9, 3), [(0, 4, 1), (1, 0, 2)])
    ours = ops.max_pool1d if kind == "max" else ops.avg_pool1d
    theirs = F.max_pool1d if kind == "max" else F.avg_pool1d
    got = jax.jit(partial(ours, window=3, stride=2, padding=1))(jnp.asarray(x))
    assert_close(got, channels_last(theirs(channels_first(x), 3, 2, 1)))


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
@pytest.mark.parametrize("window, stride, pad", [(2, 2, 0), (3, 1, 1)])
def test_avg_pool2d_with_nan_matches_torch(window, stride, pad):
    x = _image((1, 6, 6, 2), [(0, 2, 3, 0)])
    got = jax.jit(partial(ops.avg_pool2d, window=window, stride=stride, padding=pad))(jnp.asarray(x))
    assert_close(got, channels_last(F.avg_pool2d(channels_first(x), window, stride, pad)))


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
def test_upsample_nearest_with_nan_matches_torch():
    x = _image((1, 3, 4, 2), [(0, 1, 2, 0)])
    got = jax.jit(partial(ops.upsample2d, scale=2))(jnp.asarray(x))
    assert_close(got, channels_last(F.interpolate(channels_first(x), scale_factor=2, mode="nearest")))


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
def test_upsample_bilinear_never_hides_a_nan():
    # Bilinear interpolation is a matrix product per axis, where 0 * NaN = NaN: a NaN reaches
    # at least every pixel it reaches in PyTorch (its whole row and column band, not only its
    # neighbours), and every pixel PyTorch computes from finite values only agrees where ours is finite.
    x = _image((1, 4, 5, 1), [(0, 1, 2, 0)])
    got = np.asarray(jax.jit(partial(ops.upsample2d, scale=2, method="bilinear"))(jnp.asarray(x)))
    want = channels_last(F.interpolate(channels_first(x), scale_factor=2, mode="bilinear", align_corners=False))
    assert np.isnan(got[np.isnan(want)]).all()
    finite = ~np.isnan(got)
    assert_close(got[finite], want[finite])


# ---- convolutions, dense, batch norm ---------------------------------------------------------


@pytest.mark.parametrize("c_in, where", [(1, "x"), (3, "kernel")], ids=["im2col-x", "hybrid-kernel"])
def test_conv2d_with_nan_matches_torch(c_in, where):
    x = _image((1, 6, 7, c_in), [(0, 2, 3, 0)] if where == "x" else [])
    k = _image((3, 3, c_in, 4), [(1, 1, 0, 2)] if where == "kernel" else [], seed=1)
    got = jax.jit(partial(ops.conv2d, padding=1))(jnp.asarray(x), jnp.asarray(k))
    assert_close(got, channels_last(F.conv2d(channels_first(x), kernel_to_torch(k), padding=1)))


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
def test_conv1d_with_nan_matches_torch():
    x = _image((2, 8, 2), [(1, 5, 0)])
    k = _image((3, 2, 3), [], seed=1)
    got = jax.jit(partial(ops.conv1d, padding=1))(jnp.asarray(x), jnp.asarray(k))
    assert_close(got, channels_last(F.conv1d(channels_first(x), kernel_to_torch(k), padding=1)))


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_transpose_with_nan_matches_torch(stride):
    x = _image((1, 4, 4, 2), [(0, 1, 2, 1)])
    k = _image((3, 3, 3, 2), [], seed=1)
    got = jax.jit(partial(ops.conv2d_transpose, stride=stride, padding=1))(jnp.asarray(x), jnp.asarray(k))
    want = F.conv_transpose2d(channels_first(x), kernel_to_torch(k), stride=stride, padding=1)
    assert_close(got, channels_last(want))


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
def test_dense_with_nan_matches_torch():
    x = _image((3, 4), [(1, 2)])
    k = _image((4, 5), [], seed=1)
    assert_close(jax.jit(ops.dense)(jnp.asarray(x), jnp.asarray(k)), to_np(t64(x) @ t64(k)))


def test_batch_norm_training_with_nan_poisons_its_channel_as_torch():
    x = _image((4, 3, 3, 2), [(2, 1, 1, 0)])
    ones, zeros = np.ones(2, np.float32), np.zeros(2, np.float32)
    bn = jax.jit(partial(ops.batch_norm, training=True, momentum=0.9))
    y, mean, var = bn(jnp.asarray(x), ones, zeros, zeros, ones)
    rm, rv = t64(zeros), t64(ones)
    want = F.batch_norm(channels_first(x), rm, rv, t64(ones), t64(zeros), training=True, momentum=0.1, eps=1e-3)
    assert_close(y, channels_last(want))
    assert_close(mean, to_np(rm))
    assert np.isnan(var[0]) and np.isfinite(var[1])  # torch stores the unbiased variance: compare NaN-ness


# ---- losses --------------------------------------------------------------------------------


def test_binary_crossentropy_clipping_keeps_a_nan_probability_nan():
    # Keras clips probabilities to [1e-7, 1 - 1e-7]; a NaN probability must not be clipped to a
    # number. Hand oracle: any NaN term makes the mean NaN; without it the mean is finite.
    target = jnp.array([1.0, 0.0, 1.0])
    assert np.isnan(ops.binary_crossentropy(jnp.array([np.nan, 0.5, 0.25]), target))
    assert np.isnan(ops.binary_crossentropy(jnp.array([0.9, 0.5, 0.25]), jnp.array([np.nan, 0.0, 1.0])))
    want = -(np.log(0.9) + np.log(0.5) + np.log(0.25)) / 3
    assert_close(ops.binary_crossentropy(jnp.array([0.9, 0.5, 0.25]), target), want)


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
@pytest.mark.parametrize(
    "ours, theirs, logits",
    [
        (partial(ops.binary_crossentropy, from_logits=True), F.binary_cross_entropy_with_logits, True),
        (ops.mse, F.mse_loss, True),
        (ops.mae, F.l1_loss, True),
    ],
    ids=["bce_logits", "mse", "mae"],
)
@pytest.mark.parametrize("where", ["pred", "target"])
def test_elementwise_losses_with_nan_match_torch(ours, theirs, logits, where):
    pred = _image((4, 3), [(1, 1)] if where == "pred" else [])
    target = np.random.default_rng(5).uniform(0, 1, (4, 3)).astype(np.float32)
    if where == "target":
        target[2, 0] = NAN
    got = jax.jit(ours)(jnp.asarray(pred), jnp.asarray(target))
    assert np.isnan(got) and np.isnan(to_np(theirs(t64(pred), t64(target))))


@pytest.mark.slow  # an audit (passed before the relu fix), out of the default budget
def test_softmax_cross_entropy_with_nan_logit_matches_torch():
    logits = _image((3, 4), [(1, 2)])
    labels = np.array([0, 3, 1])
    got = ops.softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(labels))
    assert np.isnan(got) and np.isnan(to_np(F.cross_entropy(t64(logits), torch.from_numpy(labels))))


def test_a_nan_pixel_reaches_the_loss_of_a_relu_network():
    """The issue's case: one NaN pixel in a conv -> ReLU -> max pool -> dense network made a
    finite loss, so the training guard never fired. The loss, and the kernel gradient, are NaN."""
    x = _image((2, 8, 8, 1), [(1, 3, 4, 0)])
    rng = np.random.default_rng(6)
    k1 = jnp.asarray(rng.standard_normal((3, 3, 1, 4)), jnp.float32)
    k2 = jnp.asarray(rng.standard_normal((36, 3)), jnp.float32)

    def loss(k1, x):
        h = ops.max_pool2d(ops.relu(ops.conv2d(x, k1)), 2)
        return ops.softmax_cross_entropy(ops.dense(ops.flatten(h), k2), jnp.array([0, 2]))

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    value, grad = value_and_grad(k1, jnp.asarray(x))
    assert np.isnan(value) and np.isnan(grad).any()
    assert np.isfinite(value_and_grad(k1, jnp.asarray(np.nan_to_num(x)))[0])  # finite without the NaN
