"""cnnlab.teaching: the loop convolution against lax, the hand-made kernels on known inputs, the
lesson inputs, and the upsampling patterns against counted kernel stamps."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnlab import teaching


def _lax_conv(x, k, stride, padding):
    return np.asarray(
        lax.conv_general_dilated(
            jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32), (stride, stride), padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax.Precision.HIGHEST,
        )
    )  # fmt: skip


def _overlap_count(size, k, s):
    """How many k x k stamps, placed every s pixels for a size x size input, cover each output pixel (VALID)."""
    n = (size - 1) * s + k
    out = np.zeros((n, n))
    for i in range(size):
        for j in range(size):
            out[i * s : i * s + k, j * s : j * s + k] += 1
    return out


def test_loops_literal_case():
    # 4x4 arange with a 2x2 kernel [[1, 2], [3, 4]]: y[i, j] = x[i,j] + 2x[i,j+1] + 3x[i+1,j] + 4x[i+1,j+1].
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    k = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    expected = np.array([[34, 44, 54], [74, 84, 94], [114, 124, 134]], np.float64)
    np.testing.assert_array_equal(out := teaching.conv2d_loops(x, k)[0, :, :, 0], expected)
    # Stride 2 keeps positions (0, 0), (0, 2), (2, 0), (2, 2).
    np.testing.assert_array_equal(teaching.conv2d_loops(x, k, stride=2)[0, :, :, 0], out[::2, ::2])
    # SAME on 4x4 with a 2x2 kernel pads one zero row/column at the bottom/right (TensorFlow's rule).
    same = teaching.conv2d_loops(x, k, padding="SAME")[0, :, :, 0]
    assert same.shape == (4, 4)
    assert same[3, 3] == 15.0  # only x[3, 3] * 1 inside the window
    assert same[0, 3] == 3.0 + 3 * 7.0  # x[0,3]*1 + x[1,3]*3


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("shape", [(2, 9, 11, 3, 5, 3, 4), (1, 8, 8, 1, 3, 3, 2), (1, 7, 10, 2, 2, 4, 1)])
def test_loops_match_lax(shape, stride, padding):
    n, h, w, c, kh, kw, o = shape
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, h, w, c)).astype(np.float32)
    k = rng.normal(size=(kh, kw, c, o)).astype(np.float32)
    got = teaching.conv2d_loops(x, k, stride=stride, padding=padding)
    np.testing.assert_allclose(got, _lax_conv(x, k, stride, padding), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.ones((4, 4)), np.ones((3, 3, 1, 1))), {}, "x must be"),
        ((np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 1))), {}, "C_in=1 but x has 2"),
        ((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"stride": 0}, "stride must be"),
        ((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"stride": True}, "stride must be"),
        ((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"padding": "FULL"}, "padding must be"),
        ((np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1))), {}, "larger than the padded input"),
    ],
)
def test_loops_reject_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        teaching.conv2d_loops(*args, **kwargs)


def test_hand_made_kernels_on_known_images():
    names, bank = teaching.kernel_bank()
    assert bank.shape == (3, 3, 1, len(names)) and bank.dtype == np.float32
    by_name = {n.split("\n")[0]: i for i, n in enumerate(names)}
    # A vertical step edge (0 left, 1 right): Sobel x gives 1 + 2 + 1 = 4 on the edge, 0 elsewhere;
    # Sobel y (a vertical gradient) gives 0 everywhere.
    step = np.zeros((1, 6, 6, 1))
    step[:, :, 3:] = 1.0
    y = _lax_conv(step, bank, 1, "VALID")[0]
    np.testing.assert_allclose(y[:, :, by_name["Sobel x"]], [[0, 4, 4, 0]] * 4, atol=1e-6)
    np.testing.assert_allclose(y[:, :, by_name["Prewitt x"]], [[0, 3, 3, 0]] * 4, atol=1e-6)
    np.testing.assert_allclose(y[:, :, by_name["Sobel y"]], 0.0, atol=1e-6)
    # A horizontal step: the y kernels respond, 4 and 3 on the edge.
    y = _lax_conv(step.transpose(0, 2, 1, 3), bank, 1, "VALID")[0]
    np.testing.assert_allclose(y[:, :, by_name["Sobel y"]], np.transpose([[0, 4, 4, 0]] * 4), atol=1e-6)
    np.testing.assert_allclose(y[:, :, by_name["Prewitt y"]], np.transpose([[0, 3, 3, 0]] * 4), atol=1e-6)
    # The blurs keep a constant image constant (weights sum to 1); so does sharpen (5 - 4 = 1).
    flat = np.full((1, 5, 5, 1), 0.7)
    y = _lax_conv(flat, bank, 1, "VALID")[0]
    for name in ("box blur", "Gaussian blur", "sharpen"):
        np.testing.assert_allclose(y[:, :, by_name[name]], 0.7, rtol=1e-6)


def test_multichannel_kernel_sums_over_channels():
    names, k = teaching.multichannel_kernel()
    assert k.shape == (3, 3, 3, 3) and len(names) == 3
    x = np.random.default_rng(1).random((2, 6, 7, 3)).astype(np.float32)
    y = _lax_conv(x, k, 1, "VALID")
    # Output 1 is channel 0 minus channel 1 at the window's centre.
    np.testing.assert_allclose(y[..., 1], x[:, 1:-1, 1:-1, 0] - x[:, 1:-1, 1:-1, 1], atol=1e-6)
    # Output 0 is the mean over the 3x3x3 window.
    np.testing.assert_allclose(y[0, 0, 0, 0], x[0, :3, :3, :].mean(), atol=1e-6)
    # Output 2 is Sobel x of channel 0 plus Sobel y of channel 2, each a one-channel convolution.
    _, bank = teaching.kernel_bank()
    parts = _lax_conv(x[..., :1], bank[..., :1], 1, "VALID") + _lax_conv(x[..., 2:], bank[..., 1:2], 1, "VALID")
    np.testing.assert_allclose(y[..., 2:], parts, atol=1e-5)


def test_shifted_channels():
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 1, 1, 0] = 1.0
    x3 = teaching.shifted_channels(x, ((0, 0), (0, 2), (2, 0)))
    assert x3.shape == (1, 5, 5, 3)
    assert x3[0, 1, 1, 0] == x3[0, 1, 3, 1] == x3[0, 3, 1, 2] == 1.0
    assert x3.sum() == 3.0


def test_inkiest_patch_is_the_window_with_the_largest_std():
    img = np.zeros((8, 9))
    img[5, 6] = 1.0  # every 3x3 window holding this one pixel has the same std: the first such wins
    assert teaching.inkiest_patch(img, 3) == (3, 4)
    rng = np.random.default_rng(2)
    img = rng.random((7, 6))
    stds = np.array([[img[i : i + 4, j : j + 4].std() for j in range(3)] for i in range(4)])
    assert teaching.inkiest_patch(img, 4) == np.unravel_index(np.argmax(stds), stds.shape)
    with pytest.raises(ValueError, match="inkiest_patch"):
        teaching.inkiest_patch(img, 8)


def test_upsampling_patterns_are_the_overlap_counts():
    p = teaching.upsampling_patterns(5, seed=3)
    np.testing.assert_array_equal(p["convT k3 s2/ones"], _overlap_count(5, 3, 2))
    np.testing.assert_array_equal(p["convT k4 s2/ones"], _overlap_count(5, 4, 2))
    # Nearest x2 of a constant is constant; a VALID 3x3 all-ones convolution of it is 9 everywhere.
    np.testing.assert_array_equal(p["up2 + conv k3/ones"], np.full((8, 8), 9.0))
    # Random kernels: stride-2 transposed convs repeat with period 2; resize-convolution is flat.
    r4 = p["convT k4 s2/random"][2:-2, 2:-2]
    np.testing.assert_allclose(r4[2:, 2:], r4[:-2, :-2], rtol=1e-6)
    assert r4.max() / r4.min() > 1.01
    np.testing.assert_allclose(p["up2 + conv k3/random"], p["up2 + conv k3/random"][0, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="size must be an int >= 3; got 2"):
        teaching.upsampling_patterns(2)


def test_interior_ratio():
    # Interior of the 3x3 stamp pattern: 4 where rows and columns are both even, 2 where one is, 1 where neither.
    counts = _overlap_count(6, 3, 2)
    assert set(np.unique(counts[2:-2, 2:-2]).tolist()) == {1.0, 2.0, 4.0}
    assert teaching.interior_ratio(counts) == 4.0
    assert teaching.interior_ratio(_overlap_count(6, 4, 2)) == 1.0
    assert teaching.interior_ratio(np.array([[1.0, 5.0], [2.0, 4.0]]), border=0) == 5.0
    with pytest.raises(ValueError, match="nothing is left"):
        teaching.interior_ratio(np.ones((4, 4)), border=2)


def test_upsampled_digit_keeps_a_constant_inside():
    img = np.full((8, 8, 1), 0.5, np.float32)
    out = teaching.upsampled_digit(img)
    assert set(out) == {"convT k3 s2", "convT k4 s2", "up2 + conv k3"}
    assert all(v.shape == (8, 8) for v in out.values())
    # Nearest up then a normalised 3x3 all-ones conv keeps the constant away from the zero padding.
    np.testing.assert_allclose(out["up2 + conv k3"][1:-1, 1:-1], 0.5, rtol=1e-6)
    # The 4x4 kernel, stride 2, covers every interior pixel 4 times: 4 * 0.5 / (16 / 4) = 0.5.
    np.testing.assert_allclose(out["convT k4 s2"][2:-2, 2:-2], 0.5, rtol=1e-6)
    # The 3x3 kernel covers them 1, 2 or 4 times: 0.5 * {1, 2, 4} / (9 / 4).
    vals = set(np.round(np.unique(out["convT k3 s2"][2:-2, 2:-2]) * 9 / 4 / 0.5, 4).tolist())
    assert vals == {1.0, 2.0, 4.0}
