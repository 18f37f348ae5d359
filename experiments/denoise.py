"""``denoise``: seed 002's convolutional autoencoder trained to remove salt-and-pepper noise from digits.

Seed 002 (IUST Deep Learning assignment 3, section 2) as written: `cnnlab.models.DenoisingAutoencoder`
(VALID convolutions and max pooling down to a ``(4, 4, 8)`` code; nearest upsampling and
stride-1 transposed convolutions back; ReLU throughout, the output included) learns to map
noisy digits to clean ones with mean squared error and Adam, 10 epochs at batch 128. The
noise is salt and pepper: every pixel independently turns white with probability 0.1 and
black with probability 0.1 (`cnnlab.data.salt_and_pepper`, the seed's ``noise > 0.9`` /
``noise < 0.1`` rule). As in the seed, the training digits are corrupted once (``noise="once"``);
``--set noise=fresh`` is cnnlab's variant, drawing fresh noise for every batch through
`fit`'s ``augment`` hook so the model never sees the same corruption twice. The test digits
are corrupted once, with a key of their own, and that noisy test set is what every number
below is measured on (the seed validates on its first 500; we use them all).

Measured on the whole test set with dm-pix (``pix.psnr``, ``pix.ssim``; images in [0, 1],
the denoiser's output clipped to [0, 1] as any image would be): PSNR and SSIM of the noisy
digits against the clean ones, and of the denoised digits against the clean ones, as the
mean (and standard deviation) over test images. Seed 002 states no numbers for
this study; the report compares the noisy PSNR with its expected value for this noise and
asks the denoised numbers to beat the noisy ones.

The study also explains the checkerboard artefacts of transposed convolutions (Odena,
Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016): a stride-2
transposed convolution stamps its kernel every 2 pixels, so with a 3x3 kernel interior
output pixels receive 1, 2 or 4 overlapping stamps in a 2-periodic pattern, even when
every weight is 1. `cnnlab.teaching.upsampling_patterns` computes these patterns exactly with
`cnnlab.ops.conv2d_transpose` and compares them with a 4x4 kernel (size divisible by the
stride: even overlap) and with nearest upsampling followed by a 3x3 convolution
(``ops.upsample2d`` then ``ops.conv2d``: uniform for any kernel).

Files: ``rows.png`` (noisy, clean and denoised test digits of every class), ``loss.png``
(MSE per epoch beside two baselines), ``quality.png`` (per-image PSNR and SSIM
distributions), ``checkerboard.png`` (the overlap patterns), and ``denoise_test.npz``
(the noisy test set as uint8, the clean one, per-image PSNR and SSIM, the first denoised
digits in float32 and the upsampling patterns) so that the numbers can be checked
independently.

Run: ``cnnlab run denoise [--quick] [--epochs N]``. The default, the seed's 10 epochs of the
4,000 offline training digits (310 steps of 128; the seed: 60,000 digits, 4,690 steps), takes
under a minute on 2 CPU cores; ``--epochs 100 --set noise=fresh`` trains much further.
"""

import dataclasses
import re
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, plural
from ._runner import main

#: How many denoised test digits ``denoise_test.npz`` keeps in float32 (the rest only as PSNR/SSIM).
N_SAVED_DENOISED = 32


def run(r: Run) -> None:
    import dm_pix as pix
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from cnnlab import data, models, teaching, train, viz
    from cnnlab.viz import denoise as denoise_viz

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

    if r.cfg.noise == "once":  # the seed's: each training digit keeps one corruption for all epochs
        x_noisy = add_noise(jax.random.fold_in(jax.random.key(r.seed), 11), data.to_float(jnp.asarray(x_train)))
        inputs, augment = (np.asarray(x_noisy), data.to_float(x_train)), None
    else:  # cnnlab's variant: fresh noise for every batch
        inputs, augment = (x_train, x_train), add_noise

    model = models.DenoisingAutoencoder(output_activation=r.cfg.output_activation, rngs=nnx.Rngs(r.seed))
    history = r.fit(
        model, inputs, val_data=(noisy, clean), augment=augment, loss="mse",
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

    expected_mse = data.salt_and_pepper_mse(c, p_high=p_high, p_low=p_low)
    expected_psnr = float(np.mean(-10 * np.log10(expected_mse)))
    m = r.metrics
    r.compare(
        "mean PSNR of noisy test digits vs clean (dB)", m["psnr_noisy"], expected_psnr,
        source=f"expected for salt and pepper p={p_high}/{p_low}: E[MSE] = p_high mean((1-x)^2) + p_low mean(x^2)",
        note="checks the noise; the mean of per-image PSNR of the expected MSE",
    )  # fmt: skip
    r.compare(
        "mean PSNR of denoised test digits vs clean (dB)", m["psnr_denoised"], f"> {m['psnr_noisy']:.2f}",
        source="goal: better than the noisy input",
        note=f"{plural(r.cfg.epochs, 'epoch')} of {plural(len(x_train), 'digit')}",
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
        denoise_viz.quality_histograms(quality),
        "quality.png",
        "Per-image PSNR and SSIM against the clean digits over the whole test set, noisy input and denoised "
        "output (dm-pix).",
    )

    patterns = teaching.upsampling_patterns(6, seed=r.seed)
    ratios = {k: teaching.interior_ratio(v) for k, v in patterns.items()}
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
        denoise_viz.checkerboard(patterns, ratios, teaching.upsampled_digit(np.asarray(clean[idx[8 % len(idx)]]))),
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


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """denoise's settings."""

    dataset: Literal["mnist", "fashion_mnist"] = setting("mnist", "the images")
    epochs: int = setting(10, "training epochs (seed 002's 10)", minimum=1)
    batch_size: int = setting(128, "training batch size (seed 002's 128)", minimum=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate (Keras's default, seed 002's)", minimum=0)
    noise: Literal["once", "fresh"] = setting(
        "once", "once: each training digit corrupted once, as seed 002; fresh: new noise every batch (cnnlab's)"
    )
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
    reference="seed 002 (IUST Deep Learning assignment 3), section 2: the salt-and-pepper denoising autoencoder "
    "(p = 0.1 each way; Adam, MSE, 10 epochs at batch 128); it prints no numbers",
)

if __name__ == "__main__":
    main(STUDY)
