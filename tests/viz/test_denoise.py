"""cnnlab.viz.denoise: the histograms hold every image, the checkerboard panels show the patterns given."""

import matplotlib.pyplot as plt
import numpy as np

from cnnlab import teaching
from cnnlab.viz import denoise


def test_quality_histograms_count_every_image():
    rng = np.random.default_rng(0)
    q = {
        "psnr_noisy": rng.normal(10, 1, 40),
        "psnr_denoised": rng.normal(15, 1, 40),
        "ssim_noisy": rng.random(40),
        "ssim_denoised": rng.random(40),
    }
    fig = denoise.quality_histograms(q)
    for ax, name in zip(fig.axes, ("psnr", "ssim")):
        noisy, denoised = ax.containers
        assert sum(p.get_height() for p in noisy) == 40 and sum(p.get_height() for p in denoised) == 40
        lo, hi = (
            min(q[f"{name}_noisy"].min(), q[f"{name}_denoised"].min()),
            max(q[f"{name}_noisy"].max(), q[f"{name}_denoised"].max()),
        )
        assert noisy[0].get_x() == lo and np.isclose(noisy[-1].get_x() + noisy[-1].get_width(), hi)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[0] == f"noisy (mean {q[f'{name}_noisy'].mean():.3g})"
        assert ax.get_ylabel() == "test images"
    assert fig.axes[0].get_xlabel() == "PSNR (dB) against the clean digit"
    assert fig._suptitle.get_text() == "Image quality over all 40 test digits"
    plt.close(fig)


def test_checkerboard_shows_each_pattern_and_its_counts():
    patterns = teaching.upsampling_patterns(4, seed=0)
    ratios = {k: teaching.interior_ratio(v) for k, v in patterns.items()}
    digit = teaching.upsampled_digit(np.random.default_rng(1).random((8, 8, 1)))
    fig = denoise.checkerboard(patterns, ratios, digit)
    axes = np.asarray(fig.axes[:9]).reshape(3, 3)
    for j, method in enumerate(denoise.METHODS):
        ones = patterns[f"{method}/ones"]
        np.testing.assert_array_equal(axes[0, j].images[0].get_array(), ones)
        # Each pixel's count is written on it.
        assert [t.get_text() for t in axes[0, j].texts] == [f"{v:.0f}" for v in ones.ravel()]
        rand = patterns[f"{method}/random"]
        np.testing.assert_allclose(axes[1, j].images[0].get_array(), rand / rand[2:-2, 2:-2].mean())
        np.testing.assert_array_equal(axes[2, j].images[0].get_array(), digit[method])
        assert axes[0, j].get_title().startswith(denoise.METHODS[method])
        assert axes[2, j].get_title() == "a 4x4 digit upsampled to 8x8"
        assert (axes[1, j].get_xlabel(), axes[1, j].get_ylabel()) == ("output column", "output row")
    # Only the resize-convolution's random pattern is flat, and says so.
    assert [t.get_text() for t in axes[1, 2].texts] == ["uniform"]
    assert len(axes[1, 0].texts) == 0
    assert fig._suptitle.get_text().startswith("Upsampling a constant 4x4 image by 2")
    plt.close(fig)
