"""``segmentation``: `models.Segmenter` labels every pixel: of canvases of real MNIST digits with its digit
(offline), or of Oxford-IIIT Pet photographs as pet, background or border (tfds).

``--dataset mnist`` (the default): the offline task is built from real digits by `cnnlab.data.make_canvases`:
each canvas (64x64 by default) holds three MNIST digits placed at seeded random positions with their ink
apart, and its mask gives every pixel a class: 0 for background, ``d + 1`` for a pixel of digit ``d``
(from intensity ``threshold``, 128 of 255, on; where two digits meet the later wins). Training canvases
use the train split, held-out canvases the test split, so no digit is seen in both.

The model is trained with per-pixel softmax cross-entropy (``(N, H, W, K)`` logits, ``(N, H, W)`` targets,
averaged over each canvas's pixels) and Adam. Held-out numbers (`cnnlab.metrics`): pixel accuracy, mean IoU
over the classes present, per-class IoU, beside the all-background prediction (most pixels are background).

The full run (2,000 training and 300 held-out 64x64 canvases of three digits, 10 epochs, seed 0)
labels 99.3% of held-out pixels correctly (all-background: 92.3%), mean IoU 0.875 over the 11
classes (0.863 over the digits); 97.9% of the digit pixels are found and 91.9% get the right digit.

``--dataset oxford_iiit_pet``: the task of the TensorFlow "Image segmentation" tutorial. The tfds
``oxford_iiit_pet`` photographs and trimaps are read with `cnnlab.data.load_segmentation` (classes
0 pet, 1 background, 2 border) at ``image_size`` (128, as in the tutorial), and a 3-class
``Segmenter(3, in_channels=3)`` is trained from scratch the same way; the baseline predicts the training
masks' most common class everywhere. The tutorial (an ImageNet-pretrained MobileNetV2 encoder, all 3,680
training images, 20 epochs) reaches about 0.9 pixel accuracy, far more than a 2-core CPU does in 15
minutes from scratch, so the default reads the first 1,000 training and 500 test images for 10 epochs.
The data must be prepared beforehand (see `load_segmentation`; then ``TFDS_DATA_DIR=DIR`` or
``--data-dir DIR``); without it the run stops with one line saying so. It has not been run on the real
data here (no copy is available offline); its tests run it on tfds's mock data.
"""

import dataclasses
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, UsageError, plural
from ._runner import main


def _train_and_score(r: Run, model, x_tr, m_tr, x_te, m_te, k: int, *, batch_size: int):
    """Trains ``model`` with per-pixel softmax cross-entropy and Adam, then scores it on the held-out set.

    Returns:
      ``(history, pred, conf, iou, acc, miou)``: the `History`, the ``(N, H, W)`` predicted
      classes, the ``(k, k)`` confusion matrix, IoU per class, pixel accuracy and mean IoU.
    """
    from cnnlab import metrics, train

    history = r.fit(
        model,
        (x_tr, m_tr),
        val_data=(x_te, m_te),
        loss="softmax_cross_entropy",
        metrics={"pixel_accuracy": train.accuracy},
        optimizer={"name": "adam", "learning_rate": r.cfg.learning_rate},
    )
    logits = np.asarray(train.predict(model, x_te, batch_size=batch_size))
    pred = logits.argmax(-1).astype(np.int32)
    conf = metrics.confusion_matrix(m_te, pred, k)
    iou = metrics.iou_per_class(conf)
    return history, pred, conf, iou, metrics.pixel_accuracy(logits, m_te), float(np.nanmean(iou))


def _figures(r: Run, history, overlays, iou_fig, miou: float, model_name: str, overlay_caption: str) -> None:
    """Writes the overlays, the IoU bars and the training curves, as both variants report them."""
    from cnnlab import viz

    r.figure(overlays, "overlays.png", overlay_caption)
    iou_caption = f"Held-out IoU per class (mean {miou:.3f}, dashed); each bar is labelled with the class's share"
    r.figure(iou_fig, "iou_per_class.png", iou_caption + " of the pixels.")
    title = f"{model_name}: per-pixel cross-entropy and pixel accuracy"
    fig = viz.compare_histories({"Segmenter": history}, ("loss", "pixel_accuracy"), title=title)
    r.figure(
        fig,
        "curves.png",
        "Training (solid) and held-out (dashed) per-pixel cross-entropy and pixel accuracy per epoch.",
    )


def run(r: Run) -> None:
    from flax import nnx

    from cnnlab import data, metrics, models, viz

    cfg = r.cfg
    if cfg.dataset == "oxford_iiit_pet":
        return _run_pets(r)
    if cfg.canvas_size % 4:
        raise ValueError(f"segmentation: canvas_size must be a multiple of 4 (Segmenter); got {cfg.canvas_size}")
    train_ds, test_ds = r.data("train"), r.data("test")
    kw = dict(size=cfg.canvas_size, digits_per_canvas=cfg.digits_per_canvas, threshold=cfg.threshold)
    x_tr, m_tr, _ = data.make_canvases(train_ds.images, train_ds.labels, cfg.train_canvases, seed=r.seed, **kw)
    x_te, m_te, _ = data.make_canvases(test_ds.images, test_ds.labels, cfg.test_canvases, seed=r.seed + 1, **kw)
    k, names = len(data.CANVAS_CLASSES), list(data.CANVAS_CLASSES)
    px = f"{cfg.canvas_size}px"
    held_out = plural(len(x_te), f"held-out {px} canvas", f"held-out {px} canvases")
    r.log(f"built {len(x_tr)} training and {held_out}")

    model = models.Segmenter(k, width=cfg.width, rngs=nnx.Rngs(r.seed))
    history, pred, conf, iou, acc, miou = _train_and_score(r, model, x_tr, m_tr, x_te, m_te, k, batch_size=64)
    miou_digits = float(np.nanmean(iou[1:]))
    baseline = float((m_te == data.BACKGROUND).mean())
    # Finding the ink against naming the digit, over the true digit pixels.
    ink_recall, digit_recall = metrics.foreground_recall(conf, data.BACKGROUND)
    r.metric(pixel_accuracy=acc, ink_recall=ink_recall, digit_recall=digit_recall, mean_iou=miou)
    r.metric(mean_iou_digits=miou_digits, background_baseline=baseline, background_iou=iou[0])
    r.metric(iou_per_class=iou, confusion=conf, train_loss=history["loss"][-1], test_loss=history["val_loss"][-1])
    note = f"{len(x_tr)} train / {held_out} of {plural(cfg.digits_per_canvas, 'digit')}, {plural(cfg.epochs, 'epoch')}"
    r.compare("held-out pixel accuracy", acc, None, source="all-background baseline " + f"{baseline:.4f}", note=note)
    r.compare("held-out mean IoU (11 classes present)", miou, None, note="background and digits 0-9")
    r.compare("held-out mean IoU of the 10 digit classes", miou_digits, None, note="background excluded")
    r.compare("held-out digit pixels found (any digit class)", ink_recall, None, note="recall of foreground")
    r.compare("held-out digit pixels given the right digit", digit_recall, None, note="recall of the true class")
    r.section(
        f"Per-pixel classes: background (class 0) and digit d (class d + 1); a digit's pixel is foreground from "
        f"intensity {cfg.threshold}/255. On {plural(len(x_te), 'held-out canvas', 'held-out canvases')} built from "
        f"test digits the Segmenter labels {acc:.2%} of the pixels correctly, against {baseline:.2%} for predicting "
        "background everywhere; "
        f"mean IoU {miou:.3f} over the 11 classes ({miou_digits:.3f} over the digits alone, background "
        f"{iou[0]:.3f}). Of the true digit pixels it marks {ink_recall:.1%} as some digit (finding the ink) "
        f"and {digit_recall:.1%} as the right digit (naming it); the gap between the two is the confusion "
        "between digit classes (the full confusion matrix is in metrics.json)."
    )
    show = min(cfg.show, len(x_te))
    overlays = viz.segmentation_overlays(x_te[:show, ..., 0], m_te[:show], pred[:show], names)
    caption = (
        "Held-out canvases (top), their true masks (middle) and the Segmenter's predicted masks (bottom) as "
        "colour overlays on the digits, one colour per class (key on the right; background uncoloured)."
    )
    _figures(r, history, overlays, viz.iou_bars(iou, names, conf), miou, "Segmenter", caption)


# -- Oxford-IIIT Pet --------------------------------------------------------------------------
#: The reference: the TensorFlow "Image segmentation" tutorial (U-Net whose encoder is an
#: ImageNet-pretrained MobileNetV2, 128x128 pet images, 20 epochs) ends near 0.9 pixel accuracy;
#: the number is read off its curves, so only "about" it is quoted.
PETS_REFERENCE = "about 0.9"
PETS_SOURCE = "TensorFlow 'Image segmentation' tutorial, pretrained MobileNetV2 encoder"


def _load_pets(r: Run, split: str, limit: int):
    """One split of tfds ``oxford_iiit_pet`` at ``image_size``; a missing or bad dataset is a `UsageError`."""
    from cnnlab.data import DataUnavailableError, load_segmentation

    size = r.cfg.image_size
    r.log(f"loading oxford_iiit_pet {split} (at most {plural(limit, 'image')}, resized to {size}x{size})")
    try:
        return load_segmentation("oxford_iiit_pet", split, size=size, limit=limit, data_dir=r.data_dir)
    except DataUnavailableError as e:
        raise UsageError(f"dataset 'oxford_iiit_pet' is not available here: {e}") from None
    except ValueError as e:
        raise UsageError(str(e).strip().splitlines()[0]) from None


def _run_pets(r: Run) -> None:
    """The online variant: pet, background and border of Oxford-IIIT Pet photographs (tfds)."""
    from flax import nnx

    from cnnlab import metrics, models, viz

    cfg = r.cfg
    size = cfg.image_size
    if size < 4 or size % 4:
        raise UsageError(f"--set image_size={size}: needs a positive multiple of 4 (Segmenter pools twice)")
    tr, te = _load_pets(r, "train", cfg.train_images), _load_pets(r, "test", cfg.test_images)
    r.data_info.update(name="oxford_iiit_pet", source=tr.source, n_train=len(tr), n_test=len(te))
    names, k = list(tr.class_names), len(tr.class_names)
    x_tr, m_tr, x_te, m_te = tr.images, tr.masks, te.images, te.masks
    r.log(f"{len(x_tr)} training and {len(x_te)} held-out {size}px images; classes {', '.join(names)}")

    model = models.Segmenter(k, in_channels=3, width=cfg.width, rngs=nnx.Rngs(r.seed))
    history, pred, conf, iou, acc, miou = _train_and_score(r, model, x_tr, m_tr, x_te, m_te, k, batch_size=32)
    majority, base_acc, base_miou = metrics.majority_baseline(m_tr, m_te, k)
    r.metric(pixel_accuracy=acc, mean_iou=miou, **{f"iou_{n}": v for n, v in zip(names, iou, strict=True)})
    r.metric(majority_class=names[majority], majority_baseline=base_acc, majority_baseline_mean_iou=base_miou)
    r.metric(iou_per_class=iou, confusion=conf, train_loss=history["loss"][-1], test_loss=history["val_loss"][-1])
    note = (
        f"our Segmenter (width {cfg.width}) trained from scratch on {len(x_tr)} of the 3,680 training images "
        f"at {size}x{size} for {plural(cfg.epochs, 'epoch')}; {plural(len(x_te), 'test image')}"
    )
    r.compare("held-out pixel accuracy", acc, PETS_REFERENCE, source=PETS_SOURCE, note=note)
    baseline_note = "the baseline to beat: the training masks' most common class"
    r.compare(
        f"held-out pixel accuracy of predicting '{names[majority]}' everywhere", base_acc, None, note=baseline_note
    )
    r.compare(f"held-out mean IoU ({k} classes)", miou, None, note=f"majority baseline {base_miou:.3f}")
    for n, v in zip(names, iou, strict=True):
        r.compare(f"held-out IoU of '{n}'", v, None)
    r.section(
        f"Per-pixel classes of Oxford-IIIT Pet (tfds `oxford_iiit_pet`, trimap value minus one): "
        f"{', '.join(f'{c} = {n}' for c, n in enumerate(names))}; images and masks resized to {size}x{size} "
        f"(bilinear with antialiasing for the photographs, nearest neighbour for the masks). On "
        f"{plural(len(x_te), 'test image')} the Segmenter labels {acc:.2%} of the pixels correctly, against "
        f"{base_acc:.2%} for predicting '{names[majority]}' everywhere; mean IoU {miou:.3f} ("
        + ", ".join(f"{n} {v:.3f}" for n, v in zip(names, iou, strict=True))
        + f"); the hardest is '{names[int(np.nanargmin(iou))]}'. The TensorFlow tutorial's "
        "about 0.9 pixel accuracy comes from a U-Net whose encoder is an ImageNet-pretrained MobileNetV2, "
        "trained on all 3,680 images for 20 epochs; ours starts from random weights."
    )
    show, pal, plain = min(cfg.show, len(x_te)), viz.pet_palette(), names.index("background")
    title = "Held-out Oxford-IIIT Pet images, true and predicted per-pixel classes"
    kw = dict(palette=pal, plain=plain)
    overlays = viz.segmentation_overlays(
        x_te[:show], m_te[:show], pred[:show], names, what="photograph", title=title, **kw
    )
    caption = (
        f"Held-out pet photographs ({size}x{size}, top), their true trimaps (middle) and the Segmenter's predicted "
        "masks (bottom) as colour overlays, one colour per class (key on the right; background dimmed, uncoloured)."
    )
    iou_fig = viz.iou_bars(iou, names, conf, what="images", **kw)
    _figures(r, history, overlays, iou_fig, miou, "Segmenter on Oxford-IIIT Pet", caption)


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """segmentation's settings. On oxford_iiit_pet the canvas settings are ignored, and on mnist the image ones.

    The tutorial uses all 3,680 training photographs for 20 epochs, more than a 2-core CPU does in
    15 minutes: ``--set train_images=3680 --epochs 20``.
    """

    dataset: Literal["mnist", "oxford_iiit_pet"] = setting("mnist", "digit canvases, or pet photographs")
    epochs: int = setting(10, "training epochs", minimum=1)
    batch_size: int = setting(16, "training batch size", minimum=1)
    learning_rate: float = setting(3e-3, "Adam's learning rate", minimum=0)
    canvas_size: int = setting(64, "canvas side in pixels; a multiple of 4", minimum=4)
    digits_per_canvas: int = setting(3, "digits placed on each canvas", minimum=1)
    threshold: int = setting(128, "0..255: a digit's pixel is foreground from this intensity", minimum=0)
    train_canvases: int = setting(2000, "training canvases", minimum=1)
    test_canvases: int = setting(300, "held-out canvases", minimum=1)
    width: int = setting(16, "Segmenter filters of the first stage", minimum=1)
    show: int = setting(6, "canvases (or photographs) in the overlay figure", minimum=1)
    image_size: int = setting(128, "oxford_iiit_pet: pixels a side; a multiple of 4", minimum=4)
    train_images: int = setting(1000, "oxford_iiit_pet: the first this many of the 3,680 training images",
                                minimum=1)  # fmt: skip
    test_images: int = setting(500, "oxford_iiit_pet: the first this many of the 3,669 test images", minimum=1)


#: ``--quick``'s settings of each variant (each ignores the other's).
_QUICK_CANVASES = dict(canvas_size=32, digits_per_canvas=1, train_canvases=1200, test_canvases=100)
_QUICK_IMAGES = dict(image_size=64, train_images=300, test_images=100)

STUDY = Study(
    name="segmentation",
    summary="Segmenter (small U-Net) labels each pixel of canvases of real MNIST digits with its digit "
    "(or, with --dataset oxford_iiit_pet, pet photographs as pet/background/border); held-out mean IoU and "
    "pixel accuracy",
    run=run,
    config=Config,
    quick=dict(epochs=4, learning_rate=5e-3, width=8, show=4, **_QUICK_CANVASES, **_QUICK_IMAGES),
    reference="the per-pixel segmentation study (U-Net-style Segmenter): offline on canvases of MNIST digits; "
    "with --dataset oxford_iiit_pet, the Oxford-IIIT Pet trimaps of the TensorFlow 'Image segmentation' tutorial "
    "(prepared tfds data needed)",
)

if __name__ == "__main__":
    main(STUDY)
