"""``denoise``: a convolutional autoencoder trained to remove salt-and-pepper noise from digits.

`cnnlab.models.DenoisingAutoencoder` (VALID convolutions and max pooling down to a
``(4, 4, 8)`` code; nearest upsampling and stride-1 transposed convolutions back; ReLU
throughout, the output included, as the model is specified) learns to map noisy digits to
clean ones with mean squared error and Adam. The noise is salt and pepper: every pixel
independently turns white with probability 0.1 and black with probability 0.1
(`cnnlab.data.salt_and_pepper`). Training draws fresh noise for every batch through
`fit`'s ``augment`` hook, so the model never sees the same corruption twice; the test
digits are corrupted once, with a fixed key, and that noisy test set is what every number
below is measured on.

Measured on the whole test set with dm-pix (``pix.psnr``, ``pix.ssim``; images in [0, 1],
the denoiser's output clipped to [0, 1] as any image would be): PSNR and SSIM of the noisy
digits against the clean ones, and of the denoised digits against the clean ones, as the
mean (and standard deviation) over test images. The classic course states no numbers for
this study; the report compares the noisy PSNR with its expected value for this noise and
asks the denoised numbers to beat the noisy ones.

The study also explains the checkerboard artefacts of transposed convolutions (Odena,
Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016): a stride-2
transposed convolution stamps its kernel every 2 pixels, so with a 3x3 kernel interior
output pixels receive 1, 2 or 4 overlapping stamps in a 2-periodic pattern, even when
every weight is 1. `upsampling_patterns` computes these patterns exactly with
`cnnlab.ops.conv2d_transpose` and compares them with a 4x4 kernel (size divisible by the
stride: even overlap) and with nearest upsampling followed by a 3x3 convolution
(``ops.upsample2d`` then ``ops.conv2d``: uniform for any kernel).

Files: ``rows.png`` (noisy, clean and denoised test digits of every class), ``loss.png``
(MSE per epoch beside two baselines), ``quality.png`` (per-image PSNR and SSIM
distributions), ``checkerboard.png`` (the overlap patterns), and ``denoise_test.npz``
(the noisy test set as uint8, the clean one, per-image PSNR and SSIM, the first denoised
digits in float32 and the upsampling patterns) so that the numbers can be checked
independently.

Run: ``cnnlab run denoise [--quick] [--epochs N]``. The default, 100 epochs of the 4,000
offline training digits (3,100 steps of 128), takes about 4 minutes on 2 uncontended CPU
cores; the test MSE is still creeping down at the end.
"""

import dataclasses
import re
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, main

#: How many denoised test digits ``denoise_test.npz`` keeps in float32 (the rest only as PSNR/SSIM).
N_SAVED_DENOISED = 32


def upsampling_patterns(size: int = 6, *, seed: int = 0) -> dict[str, np.ndarray]:
    """2x upsamplings of a constant ``size x size`` image by three methods, with uniform and random kernels.

    Args:
      size: side of the constant (all-ones) input image.
      seed: seeds the random kernels.

    Returns:
      ``{name: (H, W) float64 array}`` with names ``"{method}/{kernel}"``: methods
      ``"convT k3 s2"`` (``ops.conv2d_transpose``, 3x3 kernel, stride 2, VALID: ``2*size + 1``
      pixels a side), ``"convT k4 s2"`` (4x4 kernel, stride 2, VALID: ``2*size + 2``) and
      ``"up2 + conv k3"`` (``ops.upsample2d`` nearest by 2, then ``ops.conv2d`` 3x3 VALID:
      ``2*size - 2``); kernels ``"ones"`` (every weight 1, so each output pixel counts the
      kernel stamps that cover it) and ``"random"`` (weights uniform in [0.5, 1.5]).

    Example:
      >>> upsampling_patterns(4)["convT k3 s2/ones"][4:7, 4:7]  # doctest: +SKIP
      array([[4., 2., 4.], [2., 1., 2.], [4., 2., 4.]])
    """
    import jax
    import jax.numpy as jnp

    from cnnlab import ops

    if isinstance(size, bool) or not isinstance(size, int) or size < 3:
        raise ValueError(f"upsampling_patterns: size must be an int >= 3; got {size!r}")
    x = jnp.ones((1, size, size, 1), jnp.float32)
    k3, k4, kc = jax.random.split(jax.random.key(seed), 3)
    kernels = {
        "ones": (jnp.ones((3, 3, 1, 1)), jnp.ones((4, 4, 1, 1)), jnp.ones((3, 3, 1, 1))),
        "random": tuple(
            jax.random.uniform(k, (n, n, 1, 1), minval=0.5, maxval=1.5) for k, n in ((k3, 3), (k4, 4), (kc, 3))
        ),
    }
    out = {}
    for kind, (w3, w4, wc) in kernels.items():
        out[f"convT k3 s2/{kind}"] = ops.conv2d_transpose(x, w3, stride=2, padding="VALID")
        out[f"convT k4 s2/{kind}"] = ops.conv2d_transpose(x, w4, stride=2, padding="VALID")
        out[f"up2 + conv k3/{kind}"] = ops.conv2d(ops.upsample2d(x, 2), wc, padding="VALID")
    return {k: np.asarray(v[0, ..., 0], np.float64) for k, v in out.items()}


def upsampled_digit(image) -> dict[str, np.ndarray]:
    """A digit halved to 14x14 (2x2 average pooling) and brought back to 28x28 by the three methods, all-ones kernels.

    Args:
      image: ``(28, 28, 1)`` float image in [0, 1].

    Returns:
      ``{method: (28, 28) array}`` for the methods of `upsampling_patterns`, with SAME
      padding so that every output is 28x28, each divided by its kernel's sum over the
      number of stamps a pixel gets on average (9/4 for 3x3, 16/4 for 4x4, 9 for the
      convolution after upsampling) so that the three are on one scale.
    """
    import jax.numpy as jnp

    from cnnlab import ops

    x = ops.avg_pool2d(jnp.asarray(image, jnp.float32)[None], 2)
    out = {
        "convT k3 s2": ops.conv2d_transpose(x, jnp.ones((3, 3, 1, 1)), stride=2, padding="SAME") / (9 / 4),
        "convT k4 s2": ops.conv2d_transpose(x, jnp.ones((4, 4, 1, 1)), stride=2, padding="SAME") / (16 / 4),
        "up2 + conv k3": ops.conv2d(ops.upsample2d(x, 2), jnp.ones((3, 3, 1, 1)), padding="SAME") / 9,
    }
    return {k: np.asarray(v[0, ..., 0], np.float64) for k, v in out.items()}


def interior_ratio(pattern: np.ndarray, border: int = 2) -> float:
    """Largest over smallest value of ``pattern`` without ``border`` pixels on each side (1 = uniform)."""
    inner = np.asarray(pattern)[border:-border, border:-border]
    return float(inner.max() / inner.min())


def run(r: Run) -> None:
    import dm_pix as pix
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from cnnlab import data, models, train, viz

    p_high, p_low = r.cfg.p_high, r.cfg.p_low
    train_ds, test_ds = r.data("train"), r.data("test")
    x_train = train_ds.images
    n_train = r.cfg.n_train
    if n_train is not None:
        if not 1 <= n_train <= len(x_train):
            raise ValueError(f"denoise: n_train must be in [1, {len(x_train)}]; got {n_train}")
        # The offline subset is ordered by digit: a random subset keeps every class.
        x_train = x_train[np.sort(np.random.default_rng(r.seed).choice(len(x_train), n_train, replace=False))]
    clean = data.to_float(jnp.asarray(test_ds.images))
    # The test set is corrupted once, with a key of its own; training noise comes from fit's keys.
    noisy = data.salt_and_pepper(jax.random.fold_in(jax.random.key(r.seed), 7), clean, p_high=p_high, p_low=p_low)

    def add_noise(key, batch):
        return data.salt_and_pepper(key, batch, p_high=p_high, p_low=p_low)

    model = models.DenoisingAutoencoder(output_activation=r.cfg.output_activation, rngs=nnx.Rngs(r.seed))
    history = r.fit(
        model, (x_train, x_train), val_data=(noisy, clean), augment=add_noise, loss="mse",
        optimizer={"name": "adam", "learning_rate": r.cfg.learning_rate},
    )  # fmt: skip
    # A ReLU output can exceed 1; an image cannot, so PSNR and SSIM see the clipped output.
    denoised = jnp.clip(train.predict(model, noisy), 0.0, 1.0)

    quality = {
        "psnr_noisy": pix.psnr(noisy, clean),
        "psnr_denoised": pix.psnr(denoised, clean),
        "ssim_noisy": pix.ssim(noisy, clean),
        "ssim_denoised": pix.ssim(denoised, clean),
    }
    quality = {k: np.asarray(v, np.float64) for k, v in quality.items()}
    for k, v in quality.items():
        r.metric(**{k: float(v.mean()), f"{k}_std": float(v.std())})
    c = np.asarray(clean, np.float64)
    mse_noisy = float(np.mean((np.asarray(noisy) - c) ** 2))
    mse_zero = float(np.mean(c**2))
    r.metric(
        test_mse=history["val_loss"][-1], test_mse_noisy_input=mse_noisy, test_mse_black_output=mse_zero,
        train_mse=history["loss"][-1],
    )  # fmt: skip

    # For salt and pepper, E[(noisy - x)^2] = p_high (1 - x)^2 + p_low x^2 at each pixel.
    expected_mse = (p_high * (1 - c) ** 2 + p_low * c**2).mean(axis=(1, 2, 3))
    expected_psnr = float(np.mean(-10 * np.log10(expected_mse)))
    m = r.metrics
    r.compare(
        "mean PSNR of noisy test digits vs clean (dB)", m["psnr_noisy"], expected_psnr,
        source=f"expected for salt and pepper p={p_high}/{p_low}: E[MSE] = p_high mean((1-x)^2) + p_low mean(x^2)",
        note="checks the noise; the mean of per-image PSNR of the expected MSE",
    )  # fmt: skip
    r.compare(
        "mean PSNR of denoised test digits vs clean (dB)", m["psnr_denoised"], f"> {m['psnr_noisy']:.2f}",
        source="goal: better than the noisy input", note=f"{r.cfg.epochs} epochs of {len(x_train):,} digits",
    )  # fmt: skip
    r.compare("mean SSIM of noisy test digits vs clean", m["ssim_noisy"], None, source="dm-pix ssim, 11x11 Gaussian")
    r.compare(
        "mean SSIM of denoised test digits vs clean", m["ssim_denoised"], f"> {m['ssim_noisy']:.3f}",
        source="goal: better than the noisy input", note="dm-pix ssim, 11x11 Gaussian window, sigma 1.5",
    )  # fmt: skip
    r.section(
        f"On all {len(c):,} test digits the denoiser takes PSNR from {m['psnr_noisy']:.2f} ± "
        f"{m['psnr_noisy_std']:.2f} dB to {m['psnr_denoised']:.2f} ± {m['psnr_denoised_std']:.2f} dB, and SSIM "
        f"{'rises' if m['ssim_denoised'] > m['ssim_noisy'] else 'falls'} from {m['ssim_noisy']:.3f} ± "
        f"{m['ssim_noisy_std']:.3f} to {m['ssim_denoised']:.3f} ± {m['ssim_denoised_std']:.3f} (mean ± std over "
        "images). Its test MSE "
        f"{m['test_mse']:.4f} compares with {mse_noisy:.4f} for returning the noisy input unchanged and "
        f"{mse_zero:.4f} for a black image."
    )

    # Rows: one test digit of every class (the offline subset is ordered by digit).
    labels = np.asarray(test_ds.labels)
    rng = np.random.default_rng(r.seed)
    idx = np.array([rng.choice(np.flatnonzero(labels == k)) for k in np.unique(labels)])
    titles = [
        f"{test_ds.class_names[labels[i]]}\n{quality['psnr_noisy'][i]:.1f}→{quality['psnr_denoised'][i]:.1f} dB"
        for i in idx
    ]
    fig = viz.image_rows(
        [("noisy", noisy[idx]), ("clean", clean[idx]), ("denoised", denoised[idx])], titles=titles,
        title="DenoisingAutoencoder on salt-and-pepper test digits",
    )  # fmt: skip
    r.figure(
        fig,
        "rows.png",
        f"One test digit per class: with salt-and-pepper noise (p = {p_high} white, {p_low} black; top), clean "
        "(middle) and the denoiser's output (bottom). Above each column: the class and the PSNR of the noisy and "
        "of the denoised digit against the clean one.",
    )

    fig = viz.compare_histories(
        {"DenoisingAutoencoder": history}, ("loss",), title="Mean squared error per epoch",
        val_label="test, fixed noise",
    )  # fmt: skip
    ax = fig.axes[0]
    ax.axhline(mse_noisy, color="C3", lw=0.9, ls=":", label=f"noisy input unchanged ({mse_noisy:.3f})")
    ax.axhline(mse_zero, color="grey", lw=0.9, ls="-.", label=f"black image ({mse_zero:.3f})")
    ax.set_ylabel("MSE against the clean digits")
    ax.legend(fontsize=8)
    r.figure(
        fig,
        "loss.png",
        "MSE per epoch: training (solid; fresh noise every batch, mean over the epoch) and test (dashed; the fixed "
        "noisy test set), beside the MSE of returning the noisy input and of a black image.",
    )

    r.figure(
        _quality_figure(quality),
        "quality.png",
        "Per-image PSNR and SSIM against the clean digits over the whole test set, noisy input and denoised "
        "output (dm-pix).",
    )

    patterns = upsampling_patterns(6, seed=r.seed)
    ratios = {k: interior_ratio(v) for k, v in patterns.items()}
    r.metric(checkerboard_ratio=ratios)
    r.section(
        "**Checkerboard artefacts.** A stride-2 transposed convolution scatters a copy of its kernel for every "
        "input pixel, 2 output pixels apart. With a 3x3 kernel the copies overlap unevenly: interior output "
        "pixels are covered by 4, 2 or 1 copies in a 2-periodic pattern, so even an all-ones kernel on a "
        f"constant image gives a checkerboard (largest/smallest interior value {ratios['convT k3 s2/ones']:.0f}). "
        "With a 4x4 kernel, whose size the stride divides, every interior pixel is covered by exactly 4 copies "
        f"(ratio {ratios['convT k4 s2/ones']:.0f}), but unequal weights still give a 2-periodic pattern "
        f"(ratio {ratios['convT k4 s2/random']:.2f} for a random kernel with weights in [0.5, 1.5]), which "
        "training has to learn away. Nearest upsampling followed by an ordinary 3x3 convolution (resize-"
        "convolution, Odena et al., Distill 2016) sees a constant image and returns one, whatever the kernel "
        f"(ratio {ratios['up2 + conv k3/random']:.2f}). The DenoisingAutoencoder already decodes that way: it "
        "upsamples with UpSampling2D and its transposed convolutions have stride 1 (each is a convolution with "
        "full padding), so it has no checkerboard by construction; StridedAutoencoder's stride-2 transposed "
        "convolutions with 3x3 and 7x7 kernels have exactly the uneven overlap shown here."
    )
    r.figure(
        _checkerboard_figure(patterns, ratios, upsampled_digit(np.asarray(clean[idx[8 % len(idx)]]))),
        "checkerboard.png",
        "A constant 6x6 image upsampled 2x three ways (VALID, so the borders show where the copies thin out). "
        "Top: all-ones kernels, so each number counts the kernel copies covering that pixel. Bottom: random "
        "kernels (weights in [0.5, 1.5]), each output divided by its interior mean. Bottom row: a test digit "
        "average-pooled to 14x14 and upsampled back with the all-ones kernels (SAME padding): the 3x3 transposed "
        "convolution prints its overlap grid onto the strokes.",
    )

    np.savez_compressed(
        r.out / "denoise_test.npz",
        clean=np.asarray(test_ds.images),
        noisy=np.asarray(jnp.round(noisy * 255)).astype(np.uint8),
        denoised_first=np.asarray(denoised[:N_SAVED_DENOISED], np.float32),
        p_high=p_high,
        p_low=p_low,
        **quality,
        **{"pattern_" + re.sub(r"\W+", "_", k): v for k, v in patterns.items()},
    )
    r.log(f"wrote {r.out / 'denoise_test.npz'}")


def _quality_figure(quality):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, name, unit in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        a, b = quality[f"{name}_noisy"], quality[f"{name}_denoised"]
        bins = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 50)
        ax.hist(a, bins=bins, color="C3", alpha=0.6, label=f"noisy (mean {a.mean():.3g})")
        ax.hist(b, bins=bins, color="C0", alpha=0.6, label=f"denoised (mean {b.mean():.3g})")
        ax.set_xlabel(f"{unit} against the clean digit")
        ax.set_ylabel("test images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Image quality over all {len(a):,} test digits")
    fig.tight_layout()
    return fig


def _checkerboard_figure(patterns, ratios, digit):
    import matplotlib.pyplot as plt

    methods = ("convT k3 s2", "convT k4 s2", "up2 + conv k3")
    titles = {
        "convT k3 s2": "transposed conv 3x3, stride 2",
        "convT k4 s2": "transposed conv 4x4, stride 2",
        "up2 + conv k3": "nearest up x2, then conv 3x3",
    }
    fig, axes = plt.subplots(3, 3, figsize=(13, 12.6), layout="constrained")
    for j, method in enumerate(methods):
        ones = patterns[f"{method}/ones"]
        ax = axes[0, j]
        im = ax.imshow(ones, cmap="viridis", vmin=0, vmax=9, interpolation="nearest")
        for (i, k), v in np.ndenumerate(ones):
            ax.text(k, i, f"{v:.0f}", ha="center", va="center", fontsize=6, color="w" if v < 5 else "k")
        ax.set_title(f"{titles[method]}\nall-ones kernel: interior max/min {ratios[method + '/ones']:.0f}", fontsize=9)
        rand = patterns[f"{method}/random"]
        inner = rand[2:-2, 2:-2]
        ax2 = axes[1, j]
        im2 = ax2.imshow(rand / inner.mean(), cmap="RdBu_r", vmin=0.5, vmax=1.5, interpolation="nearest")
        ax2.set_title(f"random kernel: interior max/min {ratios[method + '/random']:.2f}", fontsize=9)
        if np.ptp(inner) <= 1e-6 * inner.mean():
            ax2.text(rand.shape[1] / 2 - 0.5, rand.shape[0] / 2 - 0.5, "uniform", ha="center", va="center")
        ax3 = axes[2, j]
        im3 = ax3.imshow(digit[method], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax3.set_title("a 14x14 digit upsampled to 28x28", fontsize=9)
        for a in (ax, ax2, ax3):
            a.set_xlabel("output column")
            a.set_ylabel("output row")
    fig.colorbar(im, ax=axes[0].tolist(), label="kernel copies covering the pixel", shrink=0.9)
    fig.colorbar(im2, ax=axes[1].tolist(), label="output / interior mean", shrink=0.9)
    fig.colorbar(im3, ax=axes[2].tolist(), label="grey level", shrink=0.9)
    fig.suptitle("Upsampling a constant 6x6 image by 2: the checkerboard of uneven overlap")
    return fig


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """denoise's settings."""

    dataset: Literal["mnist", "fashion_mnist"] = setting("mnist", "the images")
    epochs: int = setting(100, "training epochs", minimum=1)
    batch_size: int = setting(128, "training batch size", minimum=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate", minimum=0)
    p_high: float = setting(0.1, "probability that a pixel turns white (salt)", minimum=0)
    p_low: float = setting(0.1, "probability that a pixel turns black (pepper)", minimum=0)
    n_train: int | None = setting(None, "training images, a random subset (None: all)", minimum=1)
    output_activation: Literal["relu", "sigmoid", "linear"] = setting("relu", "the decoder's last activation")


STUDY = Study(
    name="denoise",
    summary="DenoisingAutoencoder from salt-and-pepper digits to clean ones; PSNR/SSIM (dm-pix); checkerboard note",
    run=run,
    config=Config,
    quick=dict(epochs=3),
    reference="the denoising-autoencoder study of the classic course (salt-and-pepper noise, p = 0.1 each way)",
)

if __name__ == "__main__":
    main(STUDY)
