"""``latent-2d``: a strided autoencoder squeezes digits 1, 5 and 6 into 2 numbers; map that plane.

Seed 001 (KAIST notebook "Convolutional Autoencoder", section 4) as written:
`cnnlab.models.StridedAutoencoder` (stride-2 convolutions down to a 2-D code, transposed
convolutions back up to a linear output) trained with MSE and Adam (Keras's defaults:
learning rate 0.001, batch 32) for 10 epochs on the digits 1, 5 and 6 only. The seed reports
a training MSE of 0.0281 after 10 epochs on the full MNIST (about 18,100 training digits of
those classes, 566 steps an epoch). Then the 2-D latent is drawn:

- the codes of (up to) 500 random test digits as a scatter coloured by digit (seed 001 In [14]);
- new points in the plane decoded into images: the seed's (-8, 0) (In [18]), the centre of
  each digit's cluster, the midpoint between two centres, and a point beyond the data, each
  marked on the scatter with its image beside it;
- the decoded grid over the codes' range (the "manifold" picture) next to the codes;
- test digits above their reconstructions (In [12]), and the training curves.

Offline the digits come from the 5,000-digit MNIST subset: 1,200 training and 300 test
digits of the three classes, so the seed's 10 epochs at batch 32 are 370 steps, not 5,660,
and the report says so beside the number; with full MNIST (``--data-dir``) the run is the
seed's. The latent's scale depends on the training run, so the marked points other than
(-8, 0) and the grid's range are chosen from the codes themselves.

Named variants, off by default as in the seed's model: ``output_activation=sigmoid``
(cnnlab's bounded output) and ``l2`` > 0, Keras's ``kernel_regularizer=l2(l2)`` on the kernels
of ``l2_layers`` (seed 001 section 1 documents ``l2(0.04)`` on a Conv2D(32, 3x3); its model
uses none). The reported training MSE is then the data term alone.
"""

import dataclasses
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, plural
from ._runner import main

REFERENCE_TRAIN_MSE = 0.0281
SOURCE = "seed 001 (KAIST notebook) section 4.5: digits 1, 5, 6 of full MNIST, Adam, batch 32, 10 epochs"
#: Seed 001's training set: the 1s, 5s and 6s of MNIST's 60,000 (566 steps an epoch at batch 32).
SEED_TRAIN_DIGITS, SEED_STEPS_PER_EPOCH = 18_081, 566


def _marked_points(z: np.ndarray, labels: np.ndarray, classes) -> tuple[np.ndarray, list[str]]:
    """The seed's (-8, 0), each class's mean code, the midpoint of the first and last class, a point beyond."""
    centres = [z[labels == c].mean(0) for c in classes]
    lo, hi = np.percentile(z, 1, axis=0), np.percentile(z, 99, axis=0)
    beyond = np.array([hi[0] + 0.25 * (hi[0] - lo[0]), 0.5 * (lo[1] + hi[1])])
    points = [np.array([-8.0, 0.0]), *centres, (centres[0] + centres[-1]) / 2, beyond]
    notes = [
        "the seed's point (-8, 0)",
        *(f"the centre of the {c}s" for c in classes),
        f"halfway between the centres of the {classes[0]}s and the {classes[-1]}s",
        "beyond the codes' range on z1",
    ]
    return np.stack(points), notes


def run(r: Run) -> None:
    from flax import nnx

    from cnnlab import data, latent, models, train, viz
    from cnnlab.viz import latent as vlatent

    cfg = r.cfg
    classes = tuple(cfg.classes)
    train_ds = data.select_classes(r.data("train"), classes)
    test_ds = data.select_classes(r.data("test"), classes)
    r.log(f"digits {', '.join(map(str, classes))}: {len(train_ds)} training, {len(test_ds)} test")
    activation = None if cfg.output_activation == "linear" else cfg.output_activation
    model = models.StridedAutoencoder(output_activation=activation, rngs=nnx.Rngs(r.seed))
    loss = train.Objective("mse", l2=cfg.l2, l2_layers=cfg.l2_layers if cfg.l2 > 0 else ())
    history = r.fit(
        model, (train_ds.images, train_ds.images), val_data=(test_ds.images, test_ds.images), loss=loss,
        metrics=["mse"], optimizer={"name": "adam", "learning_rate": cfg.learning_rate},
    )  # fmt: skip
    test_mse = train.evaluate(model, (test_ds.images, test_ds.images), loss="mse")["loss"]
    # The best a code-blind decoder can do: always draw the mean training digit.
    mean_digit = data.to_float(train_ds.images).mean(0)
    mean_image_mse = float(((data.to_float(test_ds.images) - mean_digit[None]) ** 2).mean())

    r.log("encoding the digits")
    z_train = np.asarray(latent.encode(model, train_ds.images))
    z_test = np.asarray(latent.encode(model, test_ds.images))
    labels_test = np.asarray(test_ds.labels)
    # How well 2 numbers keep the digits apart: the nearest training-class centre of each test code.
    position = np.full(train_ds.num_classes, -1)
    position[list(classes)] = np.arange(len(classes))
    centres = np.asarray(latent.class_stats(z_train, position[train_ds.labels], len(classes))[0])
    nearest = np.asarray(classes)[np.argmin(((z_test[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)]
    centroid_acc = float(np.mean(nearest == labels_test))

    full = r.data_info.get("n_train", 0) >= 60000
    steps = cfg.epochs * (len(train_ds) // cfg.batch_size)
    train_mse = history["mse"][-1]  # the data term: with l2 > 0 the training loss adds the penalty
    r.metric(
        train_mse=train_mse, train_loss=history["loss"][-1], test_mse=test_mse, mean_image_mse=mean_image_mse,
        nearest_centre_accuracy=centroid_acc,
        n_train=len(train_ds), n_test=len(test_ds), steps=steps,
        latent_min=z_test.min(0), latent_max=z_test.max(0),
    )  # fmt: skip
    seed_setup = cfg.batch_size == 32 and cfg.learning_rate == 1e-3 and cfg.output_activation == "linear"
    r.compare(
        f"training MSE after {plural(cfg.epochs, 'epoch')}", train_mse,
        REFERENCE_TRAIN_MSE if cfg.dataset == "mnist" else None, source=SOURCE,
        note=("same data as the seed" if full else (
            f"{plural(len(train_ds), 'training digit')}, not {SEED_TRAIN_DIGITS:,}: {plural(steps, 'step')} of "
            f"{cfg.batch_size}, not {cfg.epochs * SEED_STEPS_PER_EPOCH:,}"
        )) + ("" if seed_setup else "; not the seed's setup (batch 32, lr 0.001, linear output)")
        + (f"; trained with {loss.describe()} (loss with it {history['loss'][-1]:.4f})" if cfg.l2 > 0 else ""),
    )  # fmt: skip
    r.compare(
        "test MSE", test_mse, None, source="not reported by seed 001",
        note=f"{plural(len(test_ds), 'test digit')} of the three classes; "
        f"drawing the mean digit scores {mean_image_mse:.4f}",
    )  # fmt: skip
    r.compare(
        "nearest-class-centre accuracy in the 2-D latent", centroid_acc, None, source="ours (chance: 1/3)",
        note="test codes against the centres of the training codes",
    )  # fmt: skip

    names = train_ds.class_names
    rng = np.random.default_rng(r.seed)
    shown = rng.choice(len(z_test), size=min(cfg.n_scatter, len(z_test)), replace=False)
    points, notes = _marked_points(z_test, labels_test, classes)
    images = np.asarray(latent.decode(model, points.astype(np.float32)))
    fig = vlatent.latent_scatter(
        z_test[shown], labels_test[shown], class_names=names, points=points, point_images=images,
        legend_title="digit (count)",
        title=f"The 2-D latent of {len(shown)} random test digits, and new points decoded",
    )  # fmt: skip
    marks = "; ".join(f"{chr(65 + i)}: {n}" for i, n in enumerate(notes))
    r.figure(
        fig, "latent_scatter.png",
        f"Codes of {len(shown)} random test digits (colour: the true digit; the model never saw labels). "
        f"Stars mark new latent points, decoded on the right ({marks}).",
    )  # fmt: skip

    lo, hi = np.percentile(z_test, 1, axis=0), np.percentile(z_test, 99, axis=0)
    pad = 0.08 * (hi - lo)
    n = cfg.grid
    grid, coords = latent.latent_grid(model, tuple(lo - pad), tuple(hi + pad), n)
    fig = vlatent.latent_manifold(
        np.asarray(grid), np.asarray(coords), z=z_test[shown], labels=labels_test[shown], class_names=names,
        legend_title="digit (count)", title="What each place in the latent plane decodes to",
    )  # fmt: skip
    r.figure(
        fig, "manifold.png",
        f"Right: the decoder's image at each point of a regular {n}×{n} grid over the codes' range "
        "(1st to 99th percentile, plus 8%); the top row is the highest z2, as in the scatter. "
        "Left: the test codes on the same axes, with the grid's points as crosses.",
    )  # fmt: skip

    per_class = max(1, cfg.n_recon // len(classes))
    idx = np.concatenate([rng.choice(np.flatnonzero(labels_test == c), per_class, replace=False) for c in classes])
    recon = np.asarray(latent.decode(model, latent.encode(model, test_ds.images[idx])))
    fig = viz.image_rows(
        [("original", test_ds.images[idx]), ("reconstruction", recon)],
        titles=[f"z=({z_test[i, 0]:.1f}, {z_test[i, 1]:.1f})" for i in idx],
        title="Test digits and their reconstructions from 2 numbers",
    )
    r.figure(fig, "reconstructions.png", "Random test digits (top) and their reconstructions (bottom), with codes.")
    fig = viz.compare_histories({"StridedAutoencoder": history}, ("mse",), title="Mean squared error per epoch")
    r.figure(
        fig, "curves.png",
        "Training MSE (solid, mean over each epoch, in training mode) and test MSE after each epoch (dashed); "
        f"the seed's last training MSE is {REFERENCE_TRAIN_MSE} (seed 001 section 4.5, full MNIST).",
    )  # fmt: skip

    scatter_note = "" if len(shown) == cfg.n_scatter else f" (all {plural(len(shown), 'test digit')} of these classes)"
    r.section(
        f"Two numbers per digit: the test codes{scatter_note} of the {plural(len(classes), 'digit')} fall into "
        "regions of "
        f"the plane, although the autoencoder never saw a label: a nearest-centre rule on the codes labels "
        f"{centroid_acc:.1%} of the test digits correctly (chance is 33%). The stars are new points, not codes "
        "of any image: near a class centre the decoder draws a typical digit of that class, and beyond the "
        f"codes ({chr(64 + len(points))}) it extrapolates. The grid shows the whole decoded plane at once: "
        "how one digit turns into another across it, and what the decoder draws where no code fell. "
        "The latent's position and scale depend on the run (seed, data), so (-8, 0) need not fall where "
        "it fell in the seed's notebook."
    )
    every = np.asarray(latent.decode(model, z_test))  # every test digit's reconstruction
    outside = float(np.mean((every < 0) | (every > 1)))
    r.metric(recon_outside_unit=outside)
    r.section(
        f"The decoder ends linear, as the seed's does: {outside:.1%} of the pixels of the test digits' "
        "reconstructions fall outside [0, 1] (the figures clip them to the grey scale). "
        "`--set output_activation=sigmoid` is cnnlab's bounded variant."
        if cfg.output_activation == "linear"
        else "The decoder ends in a sigmoid (cnnlab's variant; the seed's is linear)."
    )


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """latent-2d's settings."""

    dataset: Literal["mnist"] = setting("mnist", "the digits (only MNIST has the notebook's classes)")
    epochs: int = setting(10, "training epochs (the notebook's 10)", minimum=1)
    batch_size: int = setting(32, "training batch size (the seed's: Keras's default, 32)", minimum=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate (the seed's: Keras's default, 0.001)", minimum=0)
    output_activation: Literal["linear", "sigmoid"] = setting(
        "linear", "the decoder's last activation: the seed's linear, or cnnlab's sigmoid variant"
    )
    l2: float = setting(
        0.0,
        "Keras l2 kernel regulariser factor on l2_layers (seed 001 section 1 shows 0.04); 0: off, as its model",
        minimum=0,
    )
    l2_layers: tuple[str, ...] = setting(
        ("encoder.0",), "layers whose kernels l2 penalises (encoder.0: the first Conv2D, 32 filters 3x3)"
    )
    classes: tuple[int, ...] = setting((1, 5, 6), "the digits trained on and drawn")
    n_scatter: int = setting(500, "test digits in the scatter (fewer when the test split has fewer)", minimum=1)
    grid: int = setting(15, "decoded grid points per side", minimum=2)
    n_recon: int = setting(12, "reconstructions shown", minimum=1)


STUDY = Study(
    name="latent-2d",
    summary="StridedAutoencoder with a 2-D latent on digits 1, 5, 6: latent scatter, decoded points and grid",
    run=run,
    config=Config,
    # Two epochs at the seed's batch 32 are 74 steps here, too few for a code; batch 8 makes 300.
    quick=dict(epochs=2, batch_size=8, grid=8, n_scatter=200),
    reference="seed 001's (KAIST notebook) 2-D strided autoencoder on digits 1, 5, 6 (training MSE 0.0281)",
)

if __name__ == "__main__":
    main(STUDY)
