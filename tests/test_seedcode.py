"""cnnlab.seedcode: seed 003's answer code as printed and corrected, against the seed's own hand answers,
NumPy (np.correlate, sliding windows), jax.lax and jax.grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from numpy.lib.stride_tricks import sliding_window_view

from cnnlab import seedcode

Q1_INPUT, Q1_KERNEL = [2, 3, -1, 5, -2], [1, 2, 1]
Q6_IMAGE = [[2, 5], [-1, 3]]
# Seed 003, Q6: the image padded with 1 and with 2 zeros, as the question prints them.
Q6_PAD1 = [[0, 0, 0, 0], [0, 2, 5, 0], [0, -1, 3, 0], [0, 0, 0, 0]]
Q6_PAD2 = [[0] * 6, [0] * 6, [0, 0, 2, 5, 0, 0], [0, 0, -1, 3, 0, 0], [0] * 6, [0] * 6]
Q9_STRIDE1, Q9_STRIDE2 = [5, 1, 7, 4, 3, 8, 2, 9, 6], [5, 7, 3, 2, 6]


def test_conv1d_gives_q1_hand_answer_and_np_correlate():
    np.testing.assert_array_equal(seedcode.conv1d(Q1_INPUT, Q1_KERNEL), [7, 6, 7])  # seed 003, Q1 worked by hand
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=25), rng.normal(size=4)
    np.testing.assert_allclose(seedcode.conv1d(x, k), np.correlate(x, k, mode="valid"), rtol=1e-12)


def test_conv1d_as_written_keeps_only_the_last_product():
    # output[i] = x[i+2] * k[2]: -1*1, 5*1, -2*1 (hand-computed), not Q1's [7, 6, 7].
    np.testing.assert_array_equal(seedcode.conv1d_as_written(Q1_INPUT, Q1_KERNEL), [-1, 5, -2])


def _grads(x, k, g):
    """jax.grad of <g, lax's 1-D valid cross-correlation of x and k>: the oracle of the backward pass."""

    def loss(x, k):
        y = lax.conv_general_dilated(x[None, None], k[None, None], (1,), "VALID", precision=lax.Precision.HIGHEST)
        return jnp.vdot(y[0, 0], g)

    return jax.grad(loss, argnums=(0, 1))(jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32))


def test_conv1d_backward_hand_answer_and_jax_grad():
    # L = c_0 + c_1 + c_2: dL/dx counts the windows covering each x (1, 2, 3, 2, 1 weighted by k) and
    # dL/dk_j sums the window x[j:j+3]: 2+3-1, 3-1+5, -1+5-2 (worked by hand).
    dx, dk = seedcode.conv1d_backward(Q1_INPUT, Q1_KERNEL, [1, 1, 1])
    np.testing.assert_array_equal(dx, [1, 3, 4, 3, 1])
    np.testing.assert_array_equal(dk, [4, 7, 2])
    rng = np.random.default_rng(1)
    x, k, g = rng.normal(size=11), rng.normal(size=3), rng.normal(size=9)
    want_dx, want_dk = _grads(x, k, g)
    dx, dk = seedcode.conv1d_backward(x, k, g)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dk, want_dk, rtol=1e-5, atol=1e-6)


def test_conv1d_backward_as_written_gets_the_kernel_gradient_wrong():
    dx, dk = seedcode.conv1d_backward_as_written(Q1_INPUT, Q1_KERNEL, [1, 1, 1])
    np.testing.assert_array_equal(dx, [1, 3, 4, 3, 1])  # its dL/dx is right
    np.testing.assert_array_equal(dk, [3, 6, 3])  # 3 * k instead of [4, 7, 2]


@pytest.mark.parametrize("padding, expected", [(1, Q6_PAD1), (2, Q6_PAD2)])
def test_conv2d_padded_gives_q6_padded_images(padding, expected):
    # A 1x1 kernel of 1 returns the padded image itself: the seed's own Q6 examples.
    np.testing.assert_array_equal(seedcode.conv2d_padded(Q6_IMAGE, [[1]], padding), expected)


@pytest.mark.parametrize("padding", [0, 1, 3])
def test_conv2d_padded_matches_lax(padding):
    rng = np.random.default_rng(padding)
    img, k = rng.normal(size=(6, 7)), rng.normal(size=(3, 3))
    want = lax.conv_general_dilated(
        jnp.asarray(img, jnp.float32)[None, None], jnp.asarray(k, jnp.float32)[None, None], (1, 1),
        [(padding, padding)] * 2, precision=lax.Precision.HIGHEST,
    )[0, 0]  # fmt: skip
    np.testing.assert_allclose(seedcode.conv2d_padded(img, k, padding), want, rtol=1e-5, atol=1e-5)


def test_conv2d_padded_as_written_drops_the_first_row_and_column():
    got = seedcode.conv2d_padded_as_written(Q6_IMAGE, [[1]], 1)
    np.testing.assert_array_equal(got, [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 3, 0], [0, 0, 0, 0]])
    # On any image it equals the corrected loops on the image with row 0 and column 0 zeroed.
    rng = np.random.default_rng(4)
    img, k = rng.normal(size=(5, 6)), rng.normal(size=(3, 3))
    cut = img.copy()
    cut[0, :], cut[:, 0] = 0.0, 0.0
    np.testing.assert_allclose(seedcode.conv2d_padded_as_written(img, k, 2), seedcode.conv2d_padded(cut, k, 2))
    assert not np.allclose(seedcode.conv2d_padded_as_written(img, k, 2), seedcode.conv2d_padded(img, k, 2))


def test_maxpool1d_gives_q9_example():
    np.testing.assert_array_equal(seedcode.maxpool1d(Q9_STRIDE1, pool_size=1, stride=2), Q9_STRIDE2)
    np.testing.assert_array_equal(seedcode.maxpool1d_as_written(Q9_STRIDE1, pool_size=1, stride=2), Q9_STRIDE2[:4])


@pytest.mark.parametrize("length, pool, stride", [(9, 3, 2), (10, 2, 2), (11, 3, 3), (7, 2, 1), (5, 5, 2)])
def test_maxpool1d_is_the_stride_one_output_subsampled(length, pool, stride):
    x = np.random.default_rng(length).normal(size=length)
    stride1 = sliding_window_view(x, pool).max(axis=1)  # NumPy's windows, the seed's stride-1 pooling
    np.testing.assert_array_equal(seedcode.maxpool1d(x, pool, stride), stride1[::stride])
    as_written = seedcode.maxpool1d_as_written(x, pool, stride)
    np.testing.assert_array_equal(as_written, stride1[::stride][: len(as_written)])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: seedcode.conv1d([1, 2], [1, 2, 3]), r"conv1d: the kernel \(3\) is longer than the sequence \(2\)"),
        (lambda: seedcode.conv1d([[1, 2]], [1]), r"conv1d: sequence must be a non-empty 1-D array; got shape \(1, 2\)"),
        (lambda: seedcode.conv1d_backward([1, 2, 3], [1, 1], [1]), "dloss_doutput must have the output's length 2"),
        (lambda: seedcode.conv2d_padded([[1]], [[1, 1]], 0), "kernel square 2-D"),
        (lambda: seedcode.conv2d_padded([[1]], [[1]], -1), "padding must be an int >= 0; got -1"),
        (lambda: seedcode.conv2d_padded([[1]], np.ones((3, 3)), 0), "larger than the padded image"),
        (lambda: seedcode.maxpool1d([1, 2], 1, 0), "stride must be an int >= 1; got 0"),
        (lambda: seedcode.maxpool1d([1, 2], 3, 1), "pool_size 3 is longer than the sequence"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_colour_kernels_sum_over_channels_and_the_seeds_vertical_kernel_finds_horizontal_edges():
    names, k = seedcode.colour_kernels(3)
    assert names == ["Vertical edges", "Horizontal edges", "Blur"] and k.shape == (3, 3, 3, 3)
    top = np.zeros((1, 6, 5, 3))
    top[:, :3] = 1.0  # bright top half: a horizontal edge between rows 2 and 3
    y = np.asarray(
        lax.conv_general_dilated(
            jnp.asarray(top, jnp.float32), jnp.asarray(k, jnp.float32), (1, 1), "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax.Precision.HIGHEST,
        )
    )[0]  # fmt: skip
    # Windows over rows (1,1,1), (1,1,0), (1,0,0), (0,0,0): the "vertical" kernel gives 3 columns x 3 channels
    # x (top row - bottom row) = 0, 9, 9, 0 (by hand); its transpose gives 0; the blur counts the ones (27, 18, 9, 0).
    np.testing.assert_allclose(y[:, :, 0], [[0, 0, 0], [9, 9, 9], [9, 9, 9], [0, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(y[:, :, 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(y[:, 0, 2], [27, 18, 9, 0], atol=1e-5)
    with pytest.raises(ValueError, match="channels must be an int >= 1; got 0"):
        seedcode.colour_kernels(0)


def test_rgb_composite_scales_all_three_maps_together():
    maps = np.stack([np.full((2, 2), -2.0), np.zeros((2, 2)), np.full((2, 2), 6.0)], axis=-1)
    np.testing.assert_allclose(seedcode.rgb_composite(maps)[0, 0], [0.0, 0.25, 1.0])
    with pytest.raises(ValueError, match=r"maps must be \(H, W, 3\); got \(2, 2\)"):
        seedcode.rgb_composite(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="constant and equal"):
        seedcode.rgb_composite(np.ones((2, 2, 3)))


def test_colour_photo_is_the_installed_sample_resized():
    import matplotlib.cbook
    from PIL import Image

    photo = seedcode.colour_photo(64)
    with Image.open(matplotlib.cbook.get_sample_data(seedcode.PHOTO[0], asfileobj=False)) as im:
        w, h = im.size
    assert photo.shape == (64, round(w * 64 / h), 3) and photo.dtype == np.float64
    assert 0.0 <= photo.min() and photo.max() <= 1.0 and photo.std() > 0.1
    with pytest.raises(ValueError, match="height must be an int in"):
        seedcode.colour_photo(4)
