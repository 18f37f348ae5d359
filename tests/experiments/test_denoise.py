"""`denoise`: the quick run's noise has the stated rates, its PSNR is the textbook formula, it denoises,
and the checkerboard patterns are the overlap counts."""

import json

import numpy as np
import pytest

from cnnlab import teaching
from cnnlab.studies import denoise
from tests.experiments._checks import check_run, run_quick
from tests.test_teaching import _overlap_count


def _psnr(a, b):
    """10 log10(1 / MSE) per image, for images in [0, 1] (NumPy, float64)."""
    mse = ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(1 / mse)


def _ssim(a, b, *, size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Mean SSIM per image (Wang et al. 2004): Gaussian window, VALID filtering, dynamic range 1 (NumPy)."""
    t = np.arange(size) - size // 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    g /= g.sum()
    n = a.shape[1]
    band = np.zeros((n - size + 1, n))  # one row per VALID output position
    for i in range(n - size + 1):
        band[i, i : i + size] = g

    def blur(z):
        return np.einsum("ih,nhw,jw->nij", band, z, band)

    a, b = np.asarray(a, np.float64)[..., 0], np.asarray(b, np.float64)[..., 0]
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma**2, blur(b * b) - mb**2, blur(a * b) - ma * mb
    c1, c2 = k1**2, k2**2
    m = (2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return m.mean(axis=(1, 2))


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("denoise")
    record = run_quick(denoise.STUDY, out)
    with np.load(out / "denoise_test.npz") as f:
        saved = dict(f)
    return out, record, saved


def test_quick_run_denoises_and_reports(quick):
    out, record, saved = quick
    names = ("psnr_noisy", "psnr_denoised", "ssim_noisy", "ssim_denoised", "test_mse")
    check_run(out, "denoise", metrics=names, data_name="mnist")
    m = record["metrics"]
    # After 3 epochs the output is closer to the clean digits than the noisy input is.
    assert m["psnr_denoised"] > m["psnr_noisy"] + 1.0
    assert m["test_mse"] < 0.75 * m["test_mse_noisy_input"]
    hist = record["history"]["model"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    # Seed 002's settings are the defaults: each training digit corrupted once, 10 epochs at batch 128.
    assert record["config"]["noise"] == "once" and record["config"]["batch_size"] == 128
    assert denoise.Config().epochs == 10 and "seed 002" in record["reference"]
    assert {f["file"] for f in record["figures"]} == {"rows.png", "loss.png", "quality.png", "checkerboard.png"}
    assert json.loads((out / "metrics.json").read_text())["data"]["n_test"] == len(saved["clean"])


def test_salt_and_pepper_rates_of_the_noisy_test_set(quick):
    _, record, saved = quick
    clean, noisy = saved["clean"], saved["noisy"]
    p_high, p_low = record["config"]["p_high"], record["config"]["p_low"]
    assert p_high == p_low == 0.1
    assert clean.shape == noisy.shape and clean.dtype == noisy.dtype == np.uint8
    changed = noisy != clean
    # Noise only ever writes pure white or pure black.
    assert set(np.unique(noisy[changed]).tolist()) <= {0, 255}
    # Where a pixel is not already white, it turns white with probability p_high (and likewise
    # for black): a binomial count, held to 5 standard deviations on over 100,000 pixels.
    for value, p, where in ((255, p_high, clean != 255), (0, p_low, clean != 0)):
        n = int(where.sum())
        assert n > 100_000
        rate = float((noisy[where] == value).mean())
        assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / n), (value, rate, n)


def test_psnr_and_ssim_match_numpy_formulas(quick):
    _, record, saved = quick
    clean = saved["clean"].astype(np.float64) / 255
    noisy = saved["noisy"].astype(np.float64) / 255
    np.testing.assert_allclose(saved["psnr_noisy"], _psnr(noisy, clean), rtol=0, atol=1e-3)
    k = len(saved["denoised_first"])
    np.testing.assert_allclose(saved["psnr_denoised"][:k], _psnr(saved["denoised_first"], clean[:k]), atol=1e-3)
    assert record["metrics"]["psnr_noisy"] == pytest.approx(_psnr(noisy, clean).mean(), abs=1e-3)
    assert record["metrics"]["psnr_denoised"] == pytest.approx(saved["psnr_denoised"].mean(), abs=1e-6)
    # SSIM (dm-pix) agrees with a NumPy transcription of its definition.
    np.testing.assert_allclose(saved["ssim_noisy"][:16], _ssim(noisy[:16], clean[:16]), atol=1e-4)
    np.testing.assert_allclose(saved["ssim_denoised"][:16], _ssim(saved["denoised_first"][:16], clean[:16]), atol=1e-4)
    # Noisy PSNR agrees with the expectation for this noise: E[MSE] = p (1 - x)^2 + p x^2 per pixel.
    expected = 10 * np.log10(1 / (0.1 * (1 - clean) ** 2 + 0.1 * clean**2).mean(axis=(1, 2, 3)))
    assert record["metrics"]["psnr_noisy"] == pytest.approx(expected.mean(), abs=0.1)


def test_checkerboard_patterns_are_the_overlap_counts(quick):
    _, _, saved = quick
    np.testing.assert_array_equal(saved["pattern_convT_k3_s2_ones"], _overlap_count(6, 3, 2))
    np.testing.assert_array_equal(saved["pattern_convT_k4_s2_ones"], _overlap_count(6, 4, 2))
    # Nearest x2 of a constant is constant; a VALID 3x3 all-ones convolution of it is 9 everywhere.
    np.testing.assert_array_equal(saved["pattern_up2_conv_k3_ones"], np.full((10, 10), 9.0))
    # Another size, straight from the function.
    p = teaching.upsampling_patterns(5, seed=3)
    np.testing.assert_array_equal(p["convT k3 s2/ones"], _overlap_count(5, 3, 2))
    # Interior of the 3x3 pattern: 4 where rows and columns are both even, 2 where one is, 1 where neither.
    inner = _overlap_count(6, 3, 2)[2:-2, 2:-2]
    assert set(np.unique(inner).tolist()) == {1.0, 2.0, 4.0}
    assert teaching.interior_ratio(_overlap_count(6, 3, 2)) == 4.0
    # Random kernels: stride-2 transposed convs repeat with period 2; resize-convolution is flat.
    r4 = p["convT k4 s2/random"][2:-2, 2:-2]
    np.testing.assert_allclose(r4[2:, 2:], r4[:-2, :-2], rtol=1e-6)
    assert r4.max() / r4.min() > 1.01
    np.testing.assert_allclose(p["up2 + conv k3/random"], p["up2 + conv k3/random"][0, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="size must be an int >= 3; got 2"):
        teaching.upsampling_patterns(2)
