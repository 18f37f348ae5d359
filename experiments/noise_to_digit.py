"""``noise-to-digit``: seed 000's decoder from noise to digits, in its two phases (section 2).

Phase 1: `models.NoiseToDigit` maps fresh noise, unrelated to the target, to real digits with binary
cross-entropy; nothing says which digit to draw, so it collapses to the pixel-wise mean digit. Phase 2: the
noise range encodes the class (digit ``k`` gets noise from ``[100 k, 100 k + 100)``,
`cnnlab.models.class_noise`); a separately trained `models.MnistCNN` (the "judge", trained to convergence:
a weaker one misreads blurry class averages) says which share of the generated digits reads as intended
(goal >= 0.95), and `cnnlab.metrics` measures their diversity against real digits'. The generators' rate
decays to 0 and their batch statistics are recomputed for the final weights (see `NoiseToDigit`).
Beyond the original: class-conditional Gaussians in a `models.LeNetAutoencoder`'s 10-d code space
(`cnnlab.latent`), decoded and judged the same way at temperatures 1 to 0: variety traded for legibility.
Offline it trains on the 4,000 digits of the MNIST subset and judges on its 1,000 test digits; the full
run's numbers and what they mean are in docs/experiments.md.
"""

import dataclasses
from types import SimpleNamespace
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, plural
from ._runner import main

#: Temperatures of the latent-Gaussian sweep: samples from N(mean, t^2 cov).
TEMPERATURES = (1.0, 0.75, 0.5, 0.25, 0.0)
#: Class k draws its noise from [SPACING * k, SPACING * k + WIDTH), as seed 000 §2.2 ((0, 100) for 0, (100, 200) for 1).
SPACING, WIDTH = 100.0, 100.0


def _digits(r: Run) -> SimpleNamespace:
    """The training digits (a seeded subset when ``train_digits`` is set), the test digits, the mean digit."""
    train_ds, test_ds = r.data("train"), r.data("test")
    x, y = train_ds.images, np.asarray(train_ds.labels)
    if r.cfg.train_digits is not None:  # a seeded subset: the offline digits are ordered by class
        pick = np.sort(np.random.default_rng(r.seed).choice(len(y), r.cfg.train_digits, replace=False))
        x, y = x[pick], y[pick]
    real, mean = test_ds.images.astype(np.float64) / 255.0, x.astype(np.float64).mean(0) / 255.0
    return SimpleNamespace(train=train_ds, test=test_ds, x=x, y=y, k=train_ds.num_classes, real=real, mean=mean)


def _generator(r: Run, x, y, *, seed: int, tag: str, epochs: int, width: float, noise):
    """A `NoiseToDigit` and its `History`, fitted to digits ``y`` from ``x`` + fresh U[0, ``width``) noise at each
    step, the rate decayed to 0 (cosine), then its batch statistics recomputed on ``noise`` (see the docstring)."""
    import optax
    from flax import nnx

    from cnnlab import models, train
    from cnnlab.models.generators import add_uniform_noise

    cfg, steps = r.cfg, epochs * (len(x) // r.cfg.batch_size)
    gen = models.NoiseToDigit(cfg.noise_dim, rngs=nnx.Rngs(r.seed + seed))
    adam = {"name": "adam", "learning_rate": optax.cosine_decay_schedule(cfg.gen_learning_rate, steps)}
    noisy = add_uniform_noise(width)
    h = r.fit(gen, (x, y), tag=tag, epochs=epochs, loss="binary_crossentropy", optimizer=adam, augment=noisy)
    train.recompute_batch_stats(gen, noise, batch_size=cfg.batch_size, seed=r.seed)
    return gen, h


def _judge(r: Run, d) -> SimpleNamespace:
    """The judge: a separately trained MnistCNN, as a user would check the digits, and how it reads each
    class's mean digit (phase 2's optimum)."""
    from flax import nnx

    from cnnlab import metrics, models, train

    # The judge is cnnlab's tool, not a seed's item: the ReLU variant, as the judge has always been.
    model, cce = models.MnistCNN(activation="relu", rngs=nnx.Rngs(r.seed)), "softmax_cross_entropy"
    r.fit(model, d.train, tag="judge", epochs=r.cfg.judge_epochs, val_data=d.test, loss=cce, optimizer="adam")
    acc = train.evaluate(model, d.test, loss=cce)["accuracy"]
    on_means, share = metrics.class_mean_probability(model, d.x, d.y, d.k)
    r.metric(judge_p_on_class_means=on_means, judge_share_on_class_means=share)
    return SimpleNamespace(model=model, acc=acc, on_means=on_means)


def _phase1(r: Run, d, key) -> SimpleNamespace:
    """Phase 1: fresh U[0, 1) noise, unrelated to the target digit; the outputs against the mean digit."""
    import jax

    from cnnlab import metrics, train

    dim, n = r.cfg.noise_dim, len(d.x)
    noise = jax.random.uniform(jax.random.fold_in(key, 11), (n, dim))
    zeros = np.zeros((n, dim), np.float32)
    gen, h = _generator(r, zeros, d.x, seed=1, tag="phase1", epochs=r.cfg.phase1_epochs, width=1.0, noise=noise)
    z = jax.random.uniform(jax.random.fold_in(key, 1), (len(d.real), dim))
    out = np.asarray(train.predict(gen, np.asarray(z, np.float32)))
    p = SimpleNamespace(history=h, out=out, var=metrics.pixel_variance(out), var_real=metrics.pixel_variance(d.real))
    p.dist, p.dist_real = metrics.rms_distance_to(out, d.mean), metrics.rms_distance_to(d.real, d.mean)
    r.metric(phase1_pixel_variance=p.var, real_pixel_variance=p.var_real, phase1_variance_ratio=p.var / p.var_real)
    r.metric(phase1_rms_to_mean=p.dist, real_rms_to_mean=p.dist_real)
    return p


def _phase2(r: Run, d, judge, key, intended) -> SimpleNamespace:
    """Phase 2: the noise range encodes the class; judged, and its diversity against real digits'."""
    import jax

    from cnnlab import metrics, train
    from cnnlab.models.generators import class_noise

    dim = r.cfg.noise_dim
    offsets = np.repeat(d.y[:, None].astype(np.float32) * np.float32(SPACING), dim, axis=1)
    noise = class_noise(jax.random.fold_in(key, 12), d.y, dim)
    gen, h = _generator(r, offsets, d.x, seed=2, tag="phase2", epochs=r.cfg.epochs, width=WIDTH, noise=noise)
    z = class_noise(jax.random.fold_in(key, 2), intended, dim)
    out = np.asarray(train.predict(gen, np.asarray(z, np.float32)))
    p = SimpleNamespace(history=h, out=out, div=metrics.per_class_diversity(out, intended, d.k))
    p.share, p.per_class, p.pred = metrics.judge(judge.model, out, intended, d.k)
    d.real_div = metrics.per_class_diversity(d.real, np.asarray(d.test.labels), d.k)
    r.metric(judge_test_accuracy=judge.acc, phase2_share_as_intended=p.share, phase2_share_per_class=p.per_class)
    r.metric(phase2_diversity=float(np.mean(p.div)), real_diversity=float(np.mean(d.real_div)))
    r.metric(phase2_diversity_ratio=float(np.mean(p.div / d.real_div)), phase2_diversity_per_class=p.div)
    r.metric(real_diversity_per_class=d.real_div)
    return p


def _latent(r: Run, d, judge, key, intended) -> SimpleNamespace:
    """Beyond the original: class-conditional Gaussians in an autoencoder's latent space, at each temperature
    t (covariances scaled by t^2; t = 0 decodes each class's mean code); the same key for all, so t = 1 is
    the unscaled sample that the latent_* numbers describe."""
    import jax
    from flax import nnx

    from cnnlab import latent, metrics, models

    # Binary cross-entropy needs probabilities: cnnlab's sigmoid variant of seed 003's (linear) decoder.
    ae = models.LeNetAutoencoder(r.cfg.latent_dim, output_activation="sigmoid", rngs=nnx.Rngs(r.seed + 3))
    fit = dict(
        loss="binary_crossentropy", metrics=["mse"], optimizer={"name": "adam", "learning_rate": r.cfg.learning_rate}
    )
    h = r.fit(ae, (d.x, d.x), tag="autoencoder", epochs=r.cfg.ae_epochs, **fit)
    means, covs = latent.class_stats(latent.encode(ae, d.x), d.y, d.k)
    sweep = []
    for t in TEMPERATURES:
        z = latent.sample_class(jax.random.fold_in(key, 3), means, covs * np.float32(t * t), intended)
        out = np.asarray(latent.decode(ae, z))
        share, per_class, pred = metrics.judge(judge.model, out, intended, d.k)
        div = metrics.per_class_diversity(out, intended, d.k)
        sweep.append((t, share, float(np.nanmean(div / d.real_div))))
        if t == 1.0:
            p = SimpleNamespace(history=h, out=out, share=share, per_class=per_class, pred=pred, div=div, sweep=sweep)
    r.metric(latent_share_as_intended=p.share, latent_share_per_class=p.per_class)
    r.metric(latent_diversity=float(np.mean(p.div)), latent_diversity_ratio=float(np.mean(p.div / d.real_div)))
    r.metric(latent_diversity_per_class=p.div)
    r.metric(latent_temperatures=[t for t, _, _ in sweep], latent_share_by_temperature=[a for _, a, _ in sweep])
    r.metric(latent_diversity_ratio_by_temperature=[v for _, _, v in sweep])
    return p


def run(r: Run) -> None:
    import jax

    d = _digits(r)
    key, intended = jax.random.key(r.seed), np.repeat(np.arange(d.k), r.cfg.samples_per_class)
    judge = _judge(r, d)
    p1, p2 = _phase1(r, d, key), _phase2(r, d, judge, key, intended)
    lat = _latent(r, d, judge, key, intended)
    _report(r, d, judge, p1, p2, lat)
    _figures(r, d, judge, p1, p2, lat, intended)


def _report(r: Run, d, judge, p1, p2, lat) -> None:
    """The report's table and paragraphs."""
    cfg, ratio2, ratio3 = r.cfg, float(np.mean(p2.div / d.real_div)), float(np.mean(lat.div / d.real_div))
    data_note = f"{r.data_info.get('n_train')} training digits, not 60,000"
    # fmt: off
    rows = [  # quantity, ours, reference, source, note
        ("phase 1: pixel variance across outputs / across real digits", p1.var / p1.var_real, "≪ 1 (collapse)",
         "seed 000 §2.1: 'a very generic image … white in the middle'",
         f"{len(p1.out)} outputs from fresh U[0,1) noise vs {len(d.real)} test digits"),
        ("phase 1: RMS distance of outputs to the mean digit", p1.dist, None, "",
         f"real test digits: {p1.dist_real:.3f}"),
        ("judge (MnistCNN) test accuracy", judge.acc, None, "", f"{plural(cfg.judge_epochs, 'epoch')} on {data_note}"),
        ("judge: lowest probability it gives a class's mean digit for that class", float(judge.on_means.min()), None,
         "", f"digit {int(judge.on_means.argmin())}; each class's mean training digit is what phase 2 converges to"),
        ("phase 2: share judged as the intended digit", p2.share, ">= 0.95", "cnnlab's goal",
         f"{plural(cfg.samples_per_class, 'draw')} per digit; {data_note}"),
        ("phase 2: within-class diversity / real digits'", ratio2, None, "",
         "mean pairwise RMS pixel distance within a class, averaged over classes"),
        ("latent Gaussians: share judged as the intended digit", lat.share, None, "",
         f"LeNetAutoencoder, {cfg.latent_dim}-d code, {plural(cfg.ae_epochs, 'epoch')}; no goal is set for this "
         "extension (phase 2's is 0.95)"),
        ("latent Gaussians: within-class diversity / real digits'", ratio3, None, "", "same measure as phase 2"),
    ] + [
        ("latent Gaussians at temperature 0.5: share judged as intended", share, None, "",
         f"diversity {div:.2f} of real digits'; covariances scaled by 0.25") for t, share, div in lat.sweep if t == 0.5
    ]
    # fmt: on
    for quantity, ours, reference, source, note in rows:
        r.compare(quantity, ours, reference, source=source, note=note)
    r.section(
        f"**Phase 1** (noise unrelated to the target): the {len(p1.out)} outputs vary with a pixel variance "
        f"of {p1.var:.2e}, against {p1.var_real:.3f} across real test digits (ratio {p1.var / p1.var_real:.2e}); "
        f"their RMS distance to the mean training digit is {p1.dist:.3f}, against {p1.dist_real:.3f} for real "
        "digits. The decoder has learned the one image that minimises the loss whatever the noise: the mean."
    )
    r.section(
        f"**Phase 2** (class k draws noise from [{SPACING:g}k, {SPACING:g}k + {WIDTH:g})): the judge, a "
        f"MnistCNN with test accuracy {judge.acc:.3f}, reads {p2.share:.1%} of the {len(p2.out)} generated digits "
        f"as the intended one (goal >= 95%). Within a class the generated digits differ by "
        f"{np.mean(p2.div):.3f} RMS on average, real test digits by {np.mean(d.real_div):.3f}: "
        f"{'little' if ratio2 < 0.5 else 'much'} of the real variety. "
        "**Latent Gaussians** (a Gaussian per class fitted to the LeNetAutoencoder codes of the training "
        f"digits with `cnnlab.latent`, samples decoded): {lat.share:.1%} judged as intended, diversity "
        f"{np.mean(lat.div):.3f} ({ratio3:.2f} of real)."
    )


def _figures(r: Run, d, judge, p1, p2, lat, intended) -> None:
    """The report's figures, from the generated digits and the judge's readings."""
    from cnnlab import train, viz

    k, cols, y_test = d.k, r.cfg.grid_columns, np.asarray(d.test.labels)
    real_share = float(np.mean(np.asarray(train.predict(judge.model, d.test.images)).argmax(-1) == y_test))
    names = ("noise range (phase 2)", "latent Gaussians")
    histories = {"phase 1 (unrelated noise)": p1.history, "phase 2 (class-coded noise)": p2.history}
    histories["autoencoder"] = lat.history
    panels = [
        ("real test digits", d.real, y_test, y_test),
        (f"noise range (phase 2)\n{p2.share:.1%} judged as intended", p2.out, intended, p2.pred),
        (f"latent Gaussians\n{lat.share:.1%} judged as intended", lat.out, intended, lat.pred),
    ]
    # fmt: off
    figures = [  # figure, file, caption
        (viz.mean_collapse(p1.out[:16], d.mean, d.real, p1.out), "phase1_collapse.png",
         "Phase 1: a decoder trained on noise unrelated to its targets. Left: the mean training digit; middle: "
         "outputs for 16 different noise inputs (all alike); right: the per-pixel standard deviation across "
         "real test digits and across generated ones (same colour scale)."),
        (viz.class_grid(p2.out, intended, p2.pred, cols, "Phase 2: noise from [100k, 100k+100) → digit k"),
         "phase2_grid.png",
         "Phase 2: rows are the intended digit 0-9, columns different noise draws from its interval. The judge's "
         f"class is written in each corner; red when it differs from the row ({p2.share:.1%} agree overall)."),
        (viz.class_panels(panels, k, cols), "generators_side_by_side.png",
         "Real test digits beside the two class-conditional generators, rows digit 0-9; red marks a digit the "
         "judge reads as another class."),
        (viz.per_class_bars(dict(zip(names, (p2.per_class, lat.per_class))), dict(zip(names, (p2.div, lat.div))),
                            d.real_div), "per_class.png",
         "Per intended digit: the share the judge reads as intended (left, goal 0.95 dashed), and the within-class "
         "diversity (mean pairwise RMS pixel distance, right) against real test digits."),
        (viz.quality_diversity(lat.sweep, (p2.share, float(np.mean(p2.div / d.real_div))), real_share),
         "quality_diversity.png",
         "Share judged as intended against within-class diversity (relative to real test digits). The latent "
         "Gaussians are sampled at temperatures t (covariances scaled by t²): lower t trades variety for "
         "legibility. Phase 2 draws near-identical class averages; real test digits are the judge's own "
         "accuracy at diversity 1."),
        (viz.compare_histories(histories, ("loss",), title="Training loss (binary cross-entropy)"), "curves.png",
         "Training binary cross-entropy per epoch: phase 1 stalls at the loss of the mean digit, phase 2 and the "
         "autoencoder go lower."),
    ]
    # fmt: on
    for fig, name, caption in figures:
        r.figure(fig, name, caption)


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """noise-to-digit's settings."""

    dataset: Literal["mnist"] = setting("mnist", "the digits")
    epochs: int = setting(30, "phase 2 (class-coded noise) training epochs", minimum=1)
    phase1_epochs: int = setting(10, "phase 1 (unrelated noise) training epochs; it collapses early", minimum=1)
    batch_size: int = setting(32, "training batch size", minimum=1)
    learning_rate: float = setting(1e-3, "the judge's and the autoencoder's Adam rate (constant)", minimum=0)
    gen_learning_rate: float = setting(3e-3, "the generators' initial rate, cosine-decayed to 0", minimum=0)
    noise_dim: int = setting(100, "length of the generators' noise vector", minimum=1)
    train_digits: int | None = setting(None, "training digits, a seeded random subset (None: all)", minimum=1)
    judge_epochs: int = setting(20, "the judging MnistCNN's epochs; a weaker judge misreads blurry averages",
                                minimum=1)  # fmt: skip
    ae_epochs: int = setting(15, "the latent-Gaussian autoencoder's epochs", minimum=1)
    latent_dim: int = setting(10, "the autoencoder's code size", minimum=1)
    samples_per_class: int = setting(100, "samples drawn per digit to judge", minimum=1)
    grid_columns: int = setting(10, "samples per digit in the figures", minimum=1)


STUDY = Study(
    name="noise-to-digit",
    summary="NoiseToDigit: unrelated noise collapses to the mean digit; class-coded noise draws the class; "
    "judged by a separate MnistCNN, beside class-conditional latent Gaussians",
    run=run,
    config=Config,
    quick=dict(
        epochs=3, phase1_epochs=3, train_digits=600, judge_epochs=1, ae_epochs=6, samples_per_class=20, grid_columns=6
    ),
    reference="seed 000 (Visual Recognition assignment 4), section 2: a Keras decoder from noise to digits "
    "(phase 1: noise unrelated to the target gives one generic image; phase 2: noise ranges (100k, 100k+100) "
    "encode the digit); it prints no numbers",
)

if __name__ == "__main__":
    main(STUDY)
