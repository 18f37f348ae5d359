"""Figures of the denoising study: per-image quality histograms, and the checkerboard of 2x upsamplings."""

from collections.abc import Mapping

import numpy as np

#: The upsampling methods of `cnnlab.teaching.upsampling_patterns`, and how the figure names them.
METHODS = {
    "convT k3 s2": "transposed conv 3x3, stride 2",
    "convT k4 s2": "transposed conv 4x4, stride 2",
    "up2 + conv k3": "nearest up x2, then conv 3x3",
}


def quality_histograms(quality: Mapping[str, np.ndarray], *, what: str = "test digits"):
    """Histograms of per-image PSNR and SSIM, noisy input beside denoised output.

    Args:
      quality: ``(N,)`` arrays under ``"psnr_noisy"``, ``"psnr_denoised"``, ``"ssim_noisy"`` and
        ``"ssim_denoised"``, each image against its clean original.
      what: what the ``N`` images are, for the title.

    Returns:
      A matplotlib ``Figure``: PSNR (left) and SSIM (right), 50 shared bins per panel, the
      means in the legends.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, name, unit in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        a, b = np.asarray(quality[f"{name}_noisy"]), np.asarray(quality[f"{name}_denoised"])
        bins = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 50)
        ax.hist(a, bins=bins, color="C3", alpha=0.6, label=f"noisy (mean {a.mean():.3g})")
        ax.hist(b, bins=bins, color="C0", alpha=0.6, label=f"denoised (mean {b.mean():.3g})")
        ax.set_xlabel(f"{unit} against the clean digit")
        ax.set_ylabel("test images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Image quality over all {len(a):,} {what}")
    fig.tight_layout()
    return fig


def _count_panel(ax, ones: np.ndarray) -> object:
    """The all-ones pattern with each pixel's count written in it."""
    im = ax.imshow(ones, cmap="viridis", vmin=0, vmax=9, interpolation="nearest")
    for (i, k), v in np.ndenumerate(ones):
        ax.text(k, i, f"{v:.0f}", ha="center", va="center", fontsize=6, color="w" if v < 5 else "k")
    return im


def _relative_panel(ax, rand: np.ndarray) -> object:
    """A random-kernel pattern over its interior mean; "uniform" written on it when the interior is flat."""
    inner = rand[2:-2, 2:-2]
    im = ax.imshow(rand / inner.mean(), cmap="RdBu_r", vmin=0.5, vmax=1.5, interpolation="nearest")
    if np.ptp(inner) <= 1e-6 * inner.mean():
        ax.text(rand.shape[1] / 2 - 0.5, rand.shape[0] / 2 - 0.5, "uniform", ha="center", va="center")
    return im


def checkerboard(patterns: Mapping[str, np.ndarray], ratios: Mapping[str, float], digit: Mapping[str, np.ndarray]):
    """The overlap patterns of three 2x upsamplings, and a digit upsampled by each.

    Args:
      patterns: `cnnlab.teaching.upsampling_patterns`'s output: ``"{method}/ones"`` and
        ``"{method}/random"`` for each method of `METHODS`.
      ratios: `cnnlab.teaching.interior_ratio` of each pattern, by the same names.
      digit: `cnnlab.teaching.upsampled_digit`'s output: ``{method: (H, W)}``.

    Returns:
      A matplotlib ``Figure``, a column per method: the all-ones kernel's stamp counts (top),
      a random kernel's output over its interior mean (middle), the upsampled digit (bottom).
    """
    import matplotlib.pyplot as plt

    size = (patterns["convT k3 s2/ones"].shape[0] - 1) // 2  # VALID 3x3 stride 2: 2 * size + 1
    h, w = next(iter(digit.values())).shape
    fig, axes = plt.subplots(3, 3, figsize=(13, 12.6), layout="constrained")
    for j, (method, name) in enumerate(METHODS.items()):
        ax, ax2, ax3 = axes[:, j]
        im = _count_panel(ax, patterns[f"{method}/ones"])
        ax.set_title(f"{name}\nall-ones kernel: interior max/min {ratios[method + '/ones']:.0f}", fontsize=9)
        im2 = _relative_panel(ax2, patterns[f"{method}/random"])
        ax2.set_title(f"random kernel: interior max/min {ratios[method + '/random']:.2f}", fontsize=9)
        im3 = ax3.imshow(digit[method], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax3.set_title(f"a {h // 2}x{w // 2} digit upsampled to {h}x{w}", fontsize=9)
        for a in (ax, ax2, ax3):
            a.set_xlabel("output column")
            a.set_ylabel("output row")
    fig.colorbar(im, ax=axes[0].tolist(), label="kernel copies covering the pixel", shrink=0.9)
    fig.colorbar(im2, ax=axes[1].tolist(), label="output / interior mean", shrink=0.9)
    fig.colorbar(im3, ax=axes[2].tolist(), label="grey level", shrink=0.9)
    fig.suptitle(f"Upsampling a constant {size}x{size} image by 2: the checkerboard of uneven overlap")
    return fig
