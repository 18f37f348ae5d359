"""`conv-basics`: the loop definition against lax, the hand-made kernels on known inputs, and the run."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnlab.studies import conv_basics
from tests.experiments._checks import check_run, run_quick


def _lax_conv(x, k, stride, padding):
    return np.asarray(
        lax.conv_general_dilated(
            jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32), (stride, stride), padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax.Precision.HIGHEST,
        )
    )  # fmt: skip


def test_loops_literal_case():
    # 4x4 arange with a 2x2 kernel [[1, 2], [3, 4]]: y[i, j] = x[i,j] + 2x[i,j+1] + 3x[i+1,j] + 4x[i+1,j+1].
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    k = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    expected = np.array([[34, 44, 54], [74, 84, 94], [114, 124, 134]], np.float64)
    np.testing.assert_array_equal(conv2d_out := conv_basics.conv2d_loops(x, k)[0, :, :, 0], expected)
    # Stride 2 keeps positions (0, 0), (0, 2), (2, 0), (2, 2).
    np.testing.assert_array_equal(conv_basics.conv2d_loops(x, k, stride=2)[0, :, :, 0], conv2d_out[::2, ::2])
    # SAME on 4x4 with a 2x2 kernel pads one zero row/column at the bottom/right (TensorFlow's rule).
    same = conv_basics.conv2d_loops(x, k, padding="SAME")[0, :, :, 0]
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
    got = conv_basics.conv2d_loops(x, k, stride=stride, padding=padding)
    np.testing.assert_allclose(got, _lax_conv(x, k, stride, padding), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.ones((4, 4)), np.ones((3, 3, 1, 1))), {}, "x must be"),
        ((np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 1))), {}, "C_in=1 but x has 2"),
        ((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"stride": 0}, "stride must be"),
        ((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"padding": "FULL"}, "padding must be"),
        ((np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1))), {}, "larger than the padded input"),
    ],
)
def test_loops_reject_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_basics.conv2d_loops(*args, **kwargs)


def test_hand_made_kernels_on_known_images():
    names, bank = conv_basics.kernel_bank()
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
    # The blurs keep a constant image constant (weights sum to 1); so does sharpen (5 - 4 = 1).
    flat = np.full((1, 5, 5, 1), 0.7)
    y = _lax_conv(flat, bank, 1, "VALID")[0]
    for name in ("box blur", "Gaussian blur", "sharpen"):
        np.testing.assert_allclose(y[:, :, by_name[name]], 0.7, rtol=1e-6)


def test_multichannel_kernel_sums_over_channels():
    _, k = conv_basics.multichannel_kernel()
    x = np.random.default_rng(1).random((2, 6, 7, 3)).astype(np.float32)
    y = conv_basics.conv2d_loops(x, k)
    # Output 1 is channel 0 minus channel 1 at the window's centre.
    np.testing.assert_allclose(y[..., 1], x[:, 1:-1, 1:-1, 0] - x[:, 1:-1, 1:-1, 1], atol=1e-6)
    # Output 0 is the mean over the 3x3x3 window.
    np.testing.assert_allclose(y[0, 0, 0, 0], x[0, :3, :3, :].mean(), atol=1e-6)


def test_shifted_channels():
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 1, 1, 0] = 1.0
    x3 = conv_basics.shifted_channels(x, ((0, 0), (0, 2), (2, 0)))
    assert x3.shape == (1, 5, 5, 3)
    assert x3[0, 1, 1, 0] == x3[0, 1, 3, 1] == x3[0, 3, 1, 2] == 1.0
    assert x3.sum() == 3.0


def test_quick_run_reports(tmp_path):
    record = run_quick(conv_basics.STUDY, tmp_path)
    check_run(
        tmp_path, "conv-basics", data_name="mnist",
        metrics=("loop_max_abs_diff", "template_peak_error_px", "multichannel_sum_max_abs_diff"),
    )  # fmt: skip
    m = record["metrics"]
    # Our op agrees with the loop definition to float32 rounding, in every case it ran.
    assert m["loop_max_abs_diff"] < 1e-5 and m["loop_cases"] >= 8
    assert m["multichannel_sum_max_abs_diff"] < 1e-5
    # 28x28 with a 3x3 kernel: VALID 26, SAME 28; stride 2: 13 and 14.
    assert (m["valid_stride1_size"], m["same_stride1_size"]) == (26, 28)
    assert (m["valid_stride2_size"], m["same_stride2_size"]) == (13, 14)
    # A patch of the image used as a kernel finds itself.
    assert m["template_peak_error_px"] == 0.0
    files = {f["file"] for f in record["figures"]}
    assert {"kernels.png", "outputs.png", "padding.png", "multichannel.png", "template.png"} <= files
    assert all(row["ours"] == row["reference"] for row in record["references"][:4])
    assert record["history"] == {}  # nothing is trained
