"""``batchnorm``: seed 002's CIFAR-10 CNN without and with batch norm, over several seeds, and its theory.

Seed 002 (IUST Deep Learning assignment 3, section 1) trains a baseline CNN (`models.CifarCNN`,
the Keras ``cifar10_cnn.py`` network) and an "improved" one with every convolution and its
512-unit Dense wrapped in ``BatchNormalizedLayer`` (layer, BatchNormalization, ReLU), both with
``RMSprop(lr=1e-4, decay=1e-6)`` (Keras's per-step ``lr / (1 + decay * step)``), batch 32, 25
epochs, validating on the test set, and finds "It improves the accuracy by 3%!". These are
the defaults. (Its improved model adds one more ``Activation('relu')`` after the last
BatchNormalizedLayer; relu(relu(z)) = relu(z), so `CifarCNN(batch_norm=True)` is the same function.)

Both networks train for several seeds at once (`cnnlab.train.fit_many`); the gain per seed is
``bn[seed] - plain[seed]``, summarised by mean, sample std, min and max. Both are evaluated on
the training, validation and test images, and `cnnlab.bn_theory.demo` answers the seed's two
questions with numbers. ``--dataset auto`` (the default) takes CIFAR-10 when it is here without
a download, else Fashion-MNIST, else the embedded digits, saying which and why
(`cnnlab.data.fallback.load_first`); 28x28 images are zero-padded to 32x32 (CifarCNN flattens
a 6x6x64 map). The seed's schedule takes about six CPU-hours on two cores (docs/experiments.md).

Run: ``cnnlab run batchnorm [--quick] [--dataset auto|cifar10|fashion_mnist|mnist] [--epochs N]``.
Writes ``curves.png`` (the seed's ``visualize_loss_and_acc``), ``sweep.png``, ``seeds.png``,
``theory.png``, ``samples.png`` (CIFAR-10 only), ``metrics.json`` and ``report.md``.
"""

import dataclasses
import time
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, UsageError, plural
from ._runner import main

#: The spatial size `models.CifarCNN` is built for (its Dense layer takes a 6x6x64 map).
INPUT_SIZE = 32
#: ``--dataset auto`` takes the first of these that is here without a download: the seed's CIFAR-10 first.
PREFERENCE = ("cifar10", "fashion_mnist", "mnist")
#: Seed 002's number: test-accuracy points batch norm adds on CIFAR-10 after 25 epochs.
REFERENCE_GAIN = 0.03
REFERENCE_SOURCE = (
    "seed 002 (IUST DL assignment 3), section 1.5.1, 'It improves the accuracy by 3%!': "
    "CIFAR-10, 50,000 images, RMSprop(1e-4, decay 1e-6), batch 32, 25 epochs"
)
LABELS = {"plain": "baseline", "bn": "improved (batch norm)"}
SPLITS = ("train", "val", "test")


def _subset(ds, size, seed: int, what: str):
    """``(images, labels, note)``: ``size`` examples of ``ds`` drawn without replacement (all when None)."""
    n = len(ds)
    if size is None:
        return ds.images, ds.labels, f"all {n:,}"
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= n:
        raise UsageError(
            f"batchnorm: {what} must be an int in [1, {n}] (the {ds.split} split's size) or None; got {size!r}"
        )
    if size == n:
        return ds.images, ds.labels, f"all {n:,}"
    idx = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    return ds.images[idx], ds.labels[idx], f"{size:,} of {n:,} (random, seed {seed})"


def _load(r: Run):
    """``(train, test)``: the configured dataset, or for ``auto`` the first of `PREFERENCE` that is here."""
    if r.cfg.dataset != "auto":
        return r.data("train"), r.data("test")
    from cnnlab import data
    from cnnlab.data.fallback import load_first

    r.log(f"loading the first of {', '.join(PREFERENCE)} that is here without a download")
    try:
        got = load_first(PREFERENCE, data_dir=r.data_dir)
    except data.DataUnavailableError as e:
        raise UsageError(f"batchnorm: {e}") from None
    except ValueError as e:  # damaged files in --data-dir
        raise UsageError(f"batchnorm: --data-dir {r.data_dir}: {e}") from None
    r.data_info.update(name=got.name, source=got.train.source, wanted=got.wanted)
    if got.note:
        r.data_info["fallback"] = got.note
        r.section(f"**Data: {got.name}, not the seed's {got.wanted}.** {got.note}.")
    return got.train, got.test


def _prepare(r: Run):
    """The training, validation and test arrays (padded to 32x32) and the dataset they came from."""
    cfg = r.cfg
    train_ds, test_ds = _load(r)
    x, y, train_note = _subset(train_ds, cfg.train_size, cfg.subset_seed, "train_size")
    vx, vy, val_note = _subset(test_ds, cfg.val_size, cfg.subset_seed, "val_size")
    tx, ty, test_note = _subset(test_ds, cfg.test_size, cfg.subset_seed + 1, "test_size")
    r.check_batch(len(y))
    h, w, _ = train_ds.image_shape
    if h > INPUT_SIZE or w > INPUT_SIZE:
        raise UsageError(f"batchnorm: CifarCNN needs images of at most {INPUT_SIZE}x{INPUT_SIZE}; the data is {h}x{w}")
    from cnnlab import data

    padded = (h, w) != (INPUT_SIZE, INPUT_SIZE)
    splits = {k: (data.pad_to(a, INPUT_SIZE), b) for k, (a, b) in zip(SPLITS, ((x, y), (vx, vy), (tx, ty)))}
    r.data_info.update(n_train=len(y), n_val=len(vy), n_test=len(ty))
    r.data_info["source"] = (
        f"{r.data_info['source']}; training on {train_note} training images, validation curves on {val_note} "
        f"test images (the seed validates on the test set), final accuracy on {test_note} test images"
        + (f"; {h}x{w} images zero-padded to {INPUT_SIZE}x{INPUT_SIZE}" if padded else "")
    )
    return splits, train_ds, padded


def _train(r: Run, splits, train_ds):
    """Both networks for every seed: their histories and train/val/test numbers (evaluation mode)."""
    from cnnlab import models, train

    cfg, (x, y) = r.cfg, splits["train"]
    seeds = [r.seed + i for i in range(cfg.n_seeds)]  # at least 2, as its Config says
    optimizer = {"name": "rmsprop", "learning_rate": cfg.learning_rate, "decay": cfg.decay}
    c, k = train_ds.image_shape[-1], train_ds.num_classes
    histories, scores, speeds = {}, {}, {}
    for tag in ("plain", "bn"):
        r.log(f"training the {LABELS[tag]} CifarCNN for seeds {seeds} at once (vmapped): "
              f"{plural(cfg.epochs, 'epoch')} of {plural(len(y), 'image')}, batch {cfg.batch_size}")  # fmt: skip
        t0 = time.perf_counter()
        trained, hs = train.fit_many(
            lambda rngs, bn=tag == "bn": models.CifarCNN(bn, in_channels=c, num_classes=k, rngs=rngs),
            seeds, (x, y), loss="softmax_cross_entropy", optimizer=optimizer, epochs=cfg.epochs,
            batch_size=cfg.batch_size, val_data=splits["val"], **r.progress(tag, cfg.epochs, members=seeds),
        )  # fmt: skip
        if tag == "bn" and cfg.bn_stats == "recomputed":
            for m in trained:  # exact population statistics in place of the lagging moving averages
                train.recompute_batch_stats(m, x, batch_size=cfg.batch_size, seed=r.seed)
        scores[tag] = {s: [train.evaluate(m, splits[s], loss="softmax_cross_entropy") for m in trained] for s in SPLITS}
        # Epoch 1 includes compilation; the later epochs give the training speed (all seeds together).
        speeds[tag] = float(np.median([rec["examples_per_s"] for rec in hs[0].records[1:]] or hs[0]["examples_per_s"]))
        histories[tag] = hs
        for s, hist, model in zip(seeds, hs, trained):
            r.record_history(f"{tag}_seed{s}", hist)
            r.keep(model, f"{tag}/seed={s}")
        accs = ", ".join(f"{res['accuracy']:.4f}" for res in scores[tag]["test"])
        r.log(f"trained {LABELS[tag]} in {time.perf_counter() - t0:.0f} s: test accuracy per seed {accs}")
    return seeds, histories, scores, speeds


def _numbers(r: Run, seeds, scores) -> dict:
    """Records the metrics and the table of train/val/test loss and accuracy; returns the spreads."""
    from cnnlab.stats import spread

    accs = {tag: [res["accuracy"] for res in scores[tag]["test"]] for tag in scores}
    gains = [b - p for p, b in zip(accs["plain"], accs["bn"])]
    st = {"plain": spread(accs["plain"]), "bn": spread(accs["bn"]), "gain": spread(gains)}
    for tag in scores:
        for split in SPLITS:
            for q in ("accuracy", "loss"):
                r.metric(**{f"{split}_{q}_{tag}": float(np.mean([res[q] for res in scores[tag][split]]))})
        r.metric(**{f"test_accuracy_{tag}_std": st[tag]["std"], f"test_accuracy_{tag}_per_seed": accs[tag],
                    f"test_loss_{tag}_per_seed": [res["loss"] for res in scores[tag]["test"]]})  # fmt: skip
    g = st["gain"]
    r.metric(bn_gain_mean=g["mean"], bn_gain_std=g["std"], bn_gain_min=g["min"], bn_gain_max=g["max"],
             n_seeds=len(seeds), seeds=seeds, bn_gain_per_seed=gains)  # fmt: skip
    stats = {"moving": "its moving statistics, momentum 0.99 as in Keras",
             "recomputed": "statistics recomputed over the training images after training, not Keras's moving "
             "averages (bn_stats)"}[r.cfg.bn_stats]  # fmt: skip
    rows = [f"| {LABELS[tag]} | " + " | ".join(
        f"{r.metrics[f'{s}_loss_{tag}']:.4f} | {r.metrics[f'{s}_accuracy_{tag}']:.4f}" for s in SPLITS) + " |"
        for tag in scores]  # fmt: skip
    r.section(
        f"Final loss and accuracy in evaluation mode (dropout off; batch norm with {stats}), mean over "
        f"{plural(len(seeds), 'seed')}:\n\n| model | train loss | train acc | validation loss | validation acc "
        "| test loss | test acc |\n| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    return st


def _theory(r: Run) -> None:
    """Seed 002's two questions, answered by `cnnlab.bn_theory.demo`: metrics, a paragraph and ``theory.png``."""
    from cnnlab import bn_theory
    from cnnlab.viz import batchnorm as bn_viz

    d = bn_theory.demo(seed=r.seed)
    r.metric(**{f"theory_{k}": v for k, v in bn_theory.numbers(d).items()})
    r.section(bn_theory.answers(d))
    r.figure(
        bn_viz.theory(d), "theory.png",
        "Seed 002, section 1.2-1.3, measured by `cnnlab.bn_theory.demo`. Left: for biases of growing size, the "
        "largest change the bias makes to the batch-norm output, the largest gradient it receives, and (for scale) "
        "the weights' gradient; dotted: float32 rounding. Right: sigmoid and its tangent at 0; histograms of "
        "the batch-normalized values with gamma 1 (blue) and a larger gamma (orange); grey: the seed's "
        "'linear' range [-1, 1].",
    )  # fmt: skip


def _samples(r: Run, train_ds) -> None:
    """Seed 002's 2x5 grid of random CIFAR-10 training images, or why it cannot be drawn here."""
    from cnnlab.viz import batchnorm as bn_viz

    if train_ds.name != "cifar10":
        why = "CIFAR-10 is not here, see Data above" if "fallback" in r.data_info else f"--dataset {r.cfg.dataset}"
        r.section(f"Seed 002's CIFAR-10 sample grid cannot be drawn here: the run used {train_ds.name} ({why}).")
        return
    fig = bn_viz.sample_grid(train_ds.images, train_ds.labels, train_ds.class_names, seed=r.seed)
    r.figure(fig, "samples.png", "Seed 002's 'Visualizing CIFAR 10' cell: 10 random training images, "
             "with their classes (the seed shows none).")  # fmt: skip


def run(r: Run) -> None:
    from cnnlab import bn_theory, viz
    from cnnlab.viz import batchnorm as bn_viz
    from cnnlab.viz import sweeps

    cfg = r.cfg
    splits, train_ds, padded = _prepare(r)
    name, n = train_ds.name, len(splits["train"][1])
    seeds, histories, scores, speeds = _train(r, splits, train_ds)
    st = _numbers(r, seeds, scores)
    r.metric(images_per_second_plain=speeds["plain"], images_per_second_bn=speeds["bn"])
    classic = name == "cifar10" and n == len(train_ds) and (cfg.epochs, cfg.batch_size) == (25, 32)
    setup = f"{name}, {plural(n, 'training image')}, {plural(cfg.epochs, 'epoch')}, batch {cfg.batch_size}"
    note = f"mean over {plural(len(seeds), 'seed')}, the seed's setup" if classic else (
        f"not the seed's setup: {setup}" + (" (images padded to 32x32)" if padded else "")
        + "; the seed's is CIFAR-10, all 50,000 images, 25 epochs, batch 32")  # fmt: skip
    for tag in ("plain", "bn"):
        r.compare(
            f"test accuracy, {LABELS[tag]} CifarCNN (mean of {plural(len(seeds), 'seed')})", st[tag]["mean"], None,
            source="seed 002 prints none", note=f"std {st[tag]['std']:.4f}, min {st[tag]['min']:.4f}, "
            f"max {st[tag]['max']:.4f}; {setup}",
        )  # fmt: skip
    g = st["gain"]
    r.compare(
        "accuracy gain from batch norm (improved - baseline, mean over seeds)", g["mean"], REFERENCE_GAIN,
        source=REFERENCE_SOURCE, note=f"std {g['std']:.4f}, min {g['min']:+.4f}, max {g['max']:+.4f} over seeds "
        f"{seeds}; {note}",
    )  # fmt: skip
    r.section(
        f"Batch norm {'adds' if g['mean'] >= 0 else 'costs'} **{abs(g['mean']) * 100:.2f} points** of test accuracy "
        f"({st['plain']['mean']:.4f} → {st['bn']['mean']:.4f}), mean over {plural(len(seeds), 'seed')}; per seed "
        f"from {g['min'] * 100:+.2f} to {g['max'] * 100:+.2f} points (sample std {g['std'] * 100:.2f}). Setup: "
        f"{setup}, RMSprop {cfg.learning_rate:g} with Keras time decay {cfg.decay:g} per step "
        f"({speeds['plain']:.0f} training images/s baseline, {speeds['bn']:.0f} improved, all seeds together). "
        "Seed 002's +3 points are for CIFAR-10 after 25 full epochs"
        + ("." if classic else f"; this run is {setup}, so the two gains are not the same measurement.")
    )  # fmt: skip
    if lag := bn_theory.lag_note(histories["bn"], n // cfg.batch_size):
        r.section(lag)
    _theory(r)
    _samples(r, train_ds)

    s0 = seeds[0]
    fig = bn_viz.loss_and_accuracy({f"{LABELS[t]}, seed {s0}": histories[t][0] for t in ("plain", "bn")}, data=setup)
    r.figure(
        fig, "curves.png",
        f"Seed 002's `visualize_loss_and_acc` for both models (seed {s0}): dots, training loss and accuracy (mean "
        f"over the epoch, training mode, dropout on); line, the {plural(len(splits['val'][1]), 'validation image')} "
        "(test images, as the seed validates) after each epoch in evaluation mode. The seed's accuracy panel "
        "labels its axis 'Loss'; here it reads 'Accuracy'.",
    )  # fmt: skip
    fig = viz.sweep_curves(
        {"baseline": histories["plain"], "batch norm": histories["bn"]}, "val_accuracy",
        title=f"Validation accuracy over {plural(len(seeds), 'seed')} on {name} (line: mean, band: min to max)",
    )  # fmt: skip
    r.figure(fig, "sweep.png", f"Validation accuracy after each epoch for seeds {seeds}, trained at once by "
             "`fit_many`: the mean over seeds and the band from the worst to the best seed.")  # fmt: skip
    fig = sweeps.paired_seeds(
        seeds, r.metrics["test_accuracy_plain_per_seed"], r.metrics["test_accuracy_bn_per_seed"],
        names=("baseline", "batch norm"), chance=1 / train_ds.num_classes, reference=REFERENCE_GAIN,
        reference_label="seed 002:\nCIFAR-10, 50,000\nimages, 25 epochs",
        gain_label=f"ours:\n{name}, {n:,}\nimages, {plural(cfg.epochs, 'epoch')}",
        gain_title="Batch-norm gain" + ("" if classic else " (two setups: not one measurement)"),
    )  # fmt: skip
    r.figure(
        fig, "seeds.png",
        f"Left: final test accuracy ({r.data_info['n_test']:,} test images of {name}), one dot per seed, a grey line "
        "joining a seed's two runs; bars are mean ± sample std (dash-dotted: chance, drawn when near). Right: our "
        f"per-seed gain (improved - baseline) on {name} with its mean ± std and zero (dotted); in its own column, "
        "seed 002's +3 points, measured on CIFAR-10 after 25 full epochs.",
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """batchnorm's settings."""

    dataset: Literal["auto", "cifar10", "fashion_mnist", "mnist"] = setting(
        "auto", "auto: CIFAR-10 (the seed's) if here without a download, else Fashion-MNIST, else the embedded digits"
    )
    epochs: int = setting(25, "training epochs (seed 002's 25)", minimum=1)
    batch_size: int = setting(32, "training batch size (seed 002's 32)", minimum=1)
    learning_rate: float = setting(1e-4, "RMSprop's rate at step 0 (seed 002's)", minimum=0)
    decay: float = setting(1e-6, "Keras time decay per optimizer step: lr / (1 + decay * step) (seed 002's)",
                           minimum=0)  # fmt: skip
    train_size: int | None = setting(None, "training images, a random subset drawn with subset_seed (None: all, "
                                     "as seed 002)", minimum=1)  # fmt: skip
    val_size: int | None = setting(None, "test images for the per-epoch validation curves (None: all, as seed "
                                   "002 validates on the test set)", minimum=1)  # fmt: skip
    test_size: int | None = setting(None, "test images for the final accuracies (None: all)", minimum=1)
    subset_seed: int = setting(0, "draws the subsets, the same for every seed and both networks", minimum=0)
    bn_stats: Literal["moving", "recomputed"] = setting(
        "moving",
        "the statistics batch norm evaluates with: moving (Keras's momentum 0.99, the seed's) or "
        "recomputed over the training images after training (--quick: a few dozen steps leave the moving "
        "averages near their start, so evaluation would sit at chance)",
    )
    n_seeds: int = setting(3, "seeds --seed, --seed + 1, ...; trained at once by fit_many (a spread needs 2)",
                           minimum=2)  # fmt: skip


STUDY = Study(
    name="batchnorm",
    summary="seed 002: CifarCNN without and with batch norm, RMSprop 1e-4 with decay, batch 32; gain over seeds",
    run=run,
    config=Config,
    quick=dict(epochs=2, batch_size=32, train_size=640, val_size=256, test_size=500, n_seeds=2, bn_stats="recomputed"),
    reference="seed 002 (IUST Deep Learning assignment 3), section 1: the Keras CIFAR-10 CNN without and with "
    "batch norm (+3 points of test accuracy on CIFAR-10 after 25 epochs)",
    data_parallel=False,  # its seeds train together, vmapped, with fit_many
)

if __name__ == "__main__":
    main(STUDY)
