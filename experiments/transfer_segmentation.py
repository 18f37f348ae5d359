"""``transfer-segmentation``: seed 002's semantic segmentation by transfer learning (section 3).

The seed cuts Keras's ImageNet VGG19 at ``'block5_conv2'``, freezes it (``layer.trainable = False``),
decodes its features with ``UpSampling2D`` + ``Conv2DTranspose`` layers to a one-channel sigmoid
mask (horse or dog against background, HorseSeg/DogSeg at 256x256), trains with binary
cross-entropy and Adam at batch 32, then unfreezes the encoder and trains again (fine-tuning),
and reports accuracy and loss on the training, validation and test sets, with 10 test inputs
and their predicted regions. Here `models.TransferSegmenter` is that network (its decoder
does not upsample after ``block5_conv2``, which comes before block 5's pooling: the seed's
fifth upsampling would make the mask twice the input's size) and ``fit(..., trainable=)``
freezes the encoder for ``epochs`` epochs, then everything trains for ``finetune_epochs``.

``--dataset mnist`` (the default, offline): canvases of real digits (`cnnlab.data.make_canvases`)
with a binary mask, digit ink (intensity from ``threshold``) against background; training
canvases from 90% of the training digits, validation canvases from the other 10%, test canvases
from the test digits, so no digit is in two sets. Grey canvases are repeated into VGG's three
channels. ``--dataset oxford_iiit_pet``: the tfds Oxford-IIIT Pet photographs (prepared
beforehand, as for ``segmentation``), the pet and its border band as foreground against the
background; validation images are the training split's last ``val_images``.

Weights: ``--set weights=PATH`` loads a Keras VGG weights file into the encoder
(`cnnlab.interop.keras_weights`: the legacy ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``
or a Keras 3 ``.weights.h5``) and feeds it Keras's ``preprocess_input``; it needs ``width=64``
and the file's ``arch``. Nothing can be downloaded here, so without one the encoder starts from
random weights, and the report says this is then not transfer learning. The fine-tuning rate
is the seed's (its second ``fit`` continues with the same Adam at Keras's 1e-3); with ImageNet
weights a lower one (``--set finetune_learning_rate=1e-5``, Keras's transfer-learning guide)
keeps the pretrained features from being overwritten.
"""

import dataclasses
import os
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, UsageError, plural
from ._runner import main

SEED = "seed 002, section 3 'Semantic segmentation'"
SPLITS = ("train", "validation", "test")


def _canvases(r: Run):
    """``{split: (uint8 canvases (N, S, S, 1), float32 0/1 masks (N, S, S, 1))}`` of digit canvases."""
    from cnnlab import data

    cfg = r.cfg
    tr, te = r.data("train"), r.data("test")
    k = len(tr.images) // 10
    pools = {"train": (tr.images[:-k], tr.labels[:-k]), "validation": (tr.images[-k:], tr.labels[-k:])}
    pools["test"] = (te.images, te.labels)
    counts = {"train": cfg.train_canvases, "validation": cfg.val_canvases, "test": cfg.test_canvases}
    kw = dict(size=cfg.canvas_size, digits_per_canvas=cfg.digits_per_canvas, threshold=cfg.threshold)
    out = {}
    for j, split in enumerate(SPLITS):
        x, m, _ = data.make_canvases(*pools[split], counts[split], seed=r.seed + j, **kw)
        out[split] = (x, (m != data.BACKGROUND).astype(np.float32)[..., None])
    r.log(", ".join(f"{len(v[0])} {s}" for s, v in out.items()) + f" {cfg.canvas_size}px canvases")
    return out, "digit ink"


def _pets(r: Run):
    """The same splits of Oxford-IIIT Pet (tfds), pet and border as foreground."""
    from cnnlab.data import DataUnavailableError, load_segmentation

    cfg = r.cfg
    out = {}
    try:
        tr = load_segmentation(size=cfg.image_size, limit=cfg.train_images + cfg.val_images, data_dir=r.data_dir)
        te = load_segmentation(split="test", size=cfg.image_size, limit=cfg.test_images, data_dir=r.data_dir)
    except DataUnavailableError as e:
        raise UsageError(f"dataset 'oxford_iiit_pet' is not available here: {e}") from None
    if len(tr) <= cfg.val_images:
        raise UsageError(f"oxford_iiit_pet: {len(tr)} training images leave none to train on after val_images")
    background = tr.class_names.index("background")
    fg = {
        name: (d.images, (d.masks != background).astype(np.float32)[..., None]) for name, d in (("tr", tr), ("te", te))
    }
    n = len(tr) - cfg.val_images
    out = {"train": tuple(a[:n] for a in fg["tr"]), "validation": tuple(a[n:] for a in fg["tr"]), "test": fg["te"]}
    r.data_info.update(name="oxford_iiit_pet", source=tr.source, n_train=n, n_test=len(te))
    return out, "pet and border"


def _check_weights(cfg) -> None:
    """A ``weights`` file that is not there, or a width Keras's VGG weights cannot fill, before any work."""
    if cfg.weights and not os.path.isfile(cfg.weights):
        raise UsageError(f"--set weights={cfg.weights}: no such file (a Keras VGG weights file, .h5 or .weights.h5)")
    if cfg.weights and cfg.width != 64:
        raise UsageError(f"--set weights={cfg.weights}: Keras's VGG weights need width=64; got width={cfg.width}")


def _model(r: Run, channels: int, size: int):
    """The `TransferSegmenter`, its encoder loaded from ``weights`` when given; ``(model, words)``."""
    from flax import nnx

    from cnnlab.interop.keras_weights import load_applications_weights
    from cnnlab.models.vgg import TransferSegmenter

    cfg = r.cfg
    try:
        model = TransferSegmenter(cfg.arch, up_to=cfg.up_to, width=cfg.width, in_channels=channels,
                                  preprocess=bool(cfg.weights), rngs=nnx.Rngs(r.seed))  # fmt: skip
    except ValueError as e:
        raise UsageError(str(e)) from None
    f = model.encoder.downsampling
    if size % f:
        raise UsageError(f"{cfg.up_to} downsamples by {f}: the image size must be a multiple of {f}; got {size}")
    if not cfg.weights:
        return model, (
            "random initial weights: no Keras weights file was given (--set weights=PATH) and none can be "
            "downloaded here, so the encoder is not pretrained and this run is not transfer learning"
        )
    try:
        loaded = load_applications_weights(model.encoder, cfg.weights)
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    return model, f"Keras {cfg.arch} weights from {cfg.weights} ({plural(len(loaded), 'layer')}, {cfg.up_to} last)"


def _phase(r: Run, model, sets, *, tag: str, epochs: int, lr: float, trainable):
    """One training phase, then loss and accuracy on every split from one compiled `predict` over all
    of them: ``(history, {split: {loss, accuracy}}, the test set's probabilities)``."""
    import jax.numpy as jnp

    from cnnlab import metrics, ops, train

    history = r.fit(
        model,
        sets["train"],
        tag=tag,
        val_data=sets["validation"],
        loss="binary_crossentropy",
        metrics={"accuracy": metrics.binary_accuracy},
        optimizer={"name": "adam", "learning_rate": lr},
        epochs=epochs,
        trainable=trainable,
    )
    probs = np.asarray(train.predict(model, np.concatenate([sets[s][0] for s in SPLITS]), batch_size=64))
    scores, start = {}, 0
    for s in SPLITS:
        target = sets[s][1]
        p, start = jnp.asarray(probs[start : start + len(target)]), start + len(target)
        acc = float(np.mean(metrics.binary_accuracy(p, jnp.asarray(target))))
        scores[s] = {"loss": float(ops.binary_crossentropy(p, jnp.asarray(target))), "accuracy": acc}
        r.metric(**{f"{tag.replace('-', '_')}_{s}_{k}": v for k, v in scores[s].items()})
    return history, scores, probs[-len(sets["test"][1]) :, ..., 0]


def run(r: Run) -> None:
    import jax
    from flax import nnx

    from cnnlab.viz import transfer as viz

    cfg = r.cfg
    _check_weights(cfg)
    sets, fg = _pets(r) if cfg.dataset == "oxford_iiit_pet" else _canvases(r)
    x_te, y_te = sets["test"]
    model, origin = _model(r, x_te.shape[-1], x_te.shape[1])
    r.log(f"encoder: {origin}")
    before = jax.tree.map(np.array, nnx.state(model.encoder, nnx.Param))
    frozen, s1, _ = _phase(r, model, sets, tag="frozen", epochs=cfg.epochs, lr=cfg.learning_rate,
                        trainable=nnx.Not(nnx.PathContains("encoder")))  # fmt: skip
    after = nnx.state(model.encoder, nnx.Param)
    unchanged = all(np.array_equal(a, np.asarray(b)) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
    r.keep(nnx.clone(model), "frozen", x_te.shape[1:])  # phase 2 trains the model on; keep phase 1's
    tuned, s2, probs = _phase(r, model, sets, tag="fine-tuned", epochs=cfg.finetune_epochs,
                       lr=cfg.finetune_learning_rate, trainable=None)  # fmt: skip
    baseline = 1.0 - float(y_te.mean())
    r.metric(encoder_unchanged_while_frozen=unchanged, background_baseline=baseline)
    r.metric(
        trainable_params_frozen_phase=frozen.config["trainable_params"], frozen_params=frozen.config["frozen_params"]
    )
    _report(r, origin, fg, (s1, s2), baseline, unchanged)

    show = min(cfg.show, len(x_te))
    what = "canvas" if cfg.dataset == "mnist" else "photograph"
    whats = f"{what}{'es' if what == 'canvas' else 's'}"
    shown = plural(show, f"test {what}", f"test {whats}")
    title = f"{cfg.arch.upper()} encoder + seed 002's decoder after fine-tuning: held-out {whats} and regions"
    r.figure(
        viz.predicted_regions(x_te[:show], y_te[:show, ..., 0], probs[:show], what=what, title=title),
        "regions.png",
        f"The first {shown} (top), their true foreground ({fg}, middle) and the fine-tuned "
        f"network's probability of foreground (bottom, black 0 to white 1; red: the 0.5 boundary), as {SEED} "
        "shows 10 test inputs and the regions predicted to be horse or dog. Encoder: " + origin.split(":")[0] + ".",
    )
    r.figure(
        viz.phase_curves([("encoder frozen", frozen), ("fine-tuned", tuned)], title=f"{SEED}: the two phases"),
        "curves.png",
        "Per-pixel binary cross-entropy and accuracy (threshold 0.5) per epoch on the training (solid) and "
        "validation (dashed) sets: first with the VGG encoder frozen, then (after the dotted line) with every "
        f"layer trained, as in {SEED}.",
    )


def _report(r: Run, origin: str, fg: str, scores, baseline: float, unchanged: bool) -> None:
    cfg = r.cfg
    for phase, s in zip(("encoder frozen", "fine-tuned"), scores, strict=True):
        for split in SPLITS:
            note = f"{cfg.arch} to {cfg.up_to}, width {cfg.width}; {origin.split(':')[0]}"
            r.compare(f"{split} pixel accuracy, {phase}", s[split]["accuracy"], None, source=SEED, note=note)
            r.compare(f"{split} binary cross-entropy, {phase}", s[split]["loss"], None, source=SEED)
    r.compare("test pixel accuracy of 'background everywhere'", baseline, None, note="the baseline to beat")
    rows = "\n".join(
        f"| {phase} | " + " | ".join(f"{s[k]['accuracy']:.4f} / {s[k]['loss']:.4f}" for k in SPLITS) + " |"
        for phase, s in zip(("encoder frozen", "fine-tuned"), scores, strict=True)
    )
    r.section(
        f"Seed 002 asks for accuracy and loss on the training, validation and test sets (it prints no numbers). "
        f"Pixel accuracy (threshold 0.5) / binary cross-entropy, foreground = {fg}:\n\n"
        "| phase | train | validation | test |\n| --- | --- | --- | --- |\n" + rows + "\n\n"
        f"Predicting background everywhere scores {baseline:.4f} on the test set. Encoder: {origin}. "
        f"While it was frozen ({plural(cfg.epochs, 'epoch')}, Adam at {cfg.learning_rate:g}) its weights "
        f"{'stayed bit for bit the same' if unchanged else 'CHANGED (a bug)'}; fine-tuning trained every layer "
        f"for {plural(cfg.finetune_epochs, 'epoch')} at {cfg.finetune_learning_rate:g}. The seed trains 1,000 "
        "epochs in each phase on HorseSeg or DogSeg at 256x256; its second phase sets `trainable = True` "
        "without recompiling the model, which Keras needs for the change to take effect, so as written its "
        "encoder would have stayed frozen."
    )


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """transfer-segmentation's settings (the seed's: VGG19 to block5_conv2, Adam 1e-3, batch 32)."""

    dataset: Literal["mnist", "oxford_iiit_pet"] = setting("mnist", "digit canvases, or pet photographs")
    epochs: int = setting(3, "epochs with the encoder frozen (the seed's 1,000)", minimum=1)
    finetune_epochs: int = setting(3, "epochs with every layer trained (the seed's 1,000)", minimum=1)
    batch_size: int = setting(32, "training batch size (the seed's 32)", minimum=1)
    learning_rate: float = setting(1e-3, "Adam's rate, encoder frozen (Keras's default, the seed's)", minimum=0)
    finetune_learning_rate: float = setting(1e-3, "Adam's rate while fine-tuning (the seed's)", minimum=0)
    arch: Literal["vgg16", "vgg19"] = setting("vgg19", "the encoder's VGG (the seed's VGG19)")
    up_to: str = setting("block5_conv2", "the encoder's last Keras layer (the seed's)")
    width: int = setting(64, "block-1 filters (VGG's 64; decoder widths scale with it)", minimum=4)
    weights: str = setting("", "a Keras VGG weights file (.h5 / .weights.h5) for the encoder; '' = random")
    canvas_size: int = setting(64, "mnist: canvas side, a multiple of the encoder's downsampling", minimum=32)
    digits_per_canvas: int = setting(2, "mnist: digits on each canvas", minimum=1)
    threshold: int = setting(128, "mnist: 1..255, a digit's pixel is foreground from this intensity", minimum=1)
    train_canvases: int = setting(1000, "mnist: training canvases", minimum=1)
    val_canvases: int = setting(200, "mnist: validation canvases", minimum=1)
    test_canvases: int = setting(200, "mnist: test canvases", minimum=1)
    image_size: int = setting(128, "oxford_iiit_pet: pixels a side", minimum=16)
    train_images: int = setting(800, "oxford_iiit_pet: training images", minimum=1)
    val_images: int = setting(200, "oxford_iiit_pet: validation images, after the training ones", minimum=1)
    test_images: int = setting(500, "oxford_iiit_pet: test images", minimum=1)
    show: int = setting(10, "test images in the regions figure (the seed's 10)", minimum=1)


STUDY = Study(
    name="transfer-segmentation",
    summary="seed 002's segmentation: VGG19 cut at block5_conv2, frozen then fine-tuned, with an UpSampling2D + "
    "Conv2DTranspose decoder to a sigmoid mask (digit canvases offline, or Oxford-IIIT Pet); train, validation "
    "and test accuracy and loss",
    run=run,
    config=Config,
    quick=dict(
        epochs=1,
        finetune_epochs=1,
        width=8,
        canvas_size=32,
        digits_per_canvas=1,
        train_canvases=128,
        val_canvases=32,
        test_canvases=32,
        image_size=32,
        train_images=64,
        val_images=16,
        test_images=32,
    ),  # fmt: skip
    reference=SEED + ": an ImageNet VGG19 encoder frozen, then fine-tuned, HorseSeg/DogSeg masks",
)

if __name__ == "__main__":
    main(STUDY)
