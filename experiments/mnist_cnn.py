"""``mnist-cnn``: the small MNIST CNN of the Keras tutorials, trained with Adam for 5 epochs.

Reference: the Keras MNIST convnet example reaches about 98.2% test accuracy after 5
epochs on the full MNIST (60,000 training digits). Offline, cnnlab trains on the 4,000
training digits of the embedded subset, so expect a few points less there; with full
MNIST (``--data-dir`` or tfds) the number is comparable.
"""

import dataclasses
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, plural
from ._runner import main


def run(r: Run) -> None:
    from flax import nnx

    from cnnlab import models, ops, train, viz

    train_ds, test_ds = r.data("train"), r.data("test")
    model = models.MnistCNN(rngs=nnx.Rngs(r.seed))
    history = r.fit(
        model, train_ds, val_data=test_ds, loss="softmax_cross_entropy",
        optimizer={"name": "adam", "learning_rate": r.cfg.learning_rate},
    )  # fmt: skip
    result = train.evaluate(model, test_ds, loss="softmax_cross_entropy")
    # train.predict gives logits: their softmax is the probability the mistakes figure shows.
    probs = np.asarray(ops.softmax(train.predict(model, test_ds.images)))
    pred = probs.argmax(-1)
    labels = np.asarray(test_ds.labels)
    k = len(test_ds.class_names)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    r.metric(
        test_accuracy=result["accuracy"], test_loss=result["loss"],
        train_accuracy=history["accuracy"][-1], train_loss=history["loss"][-1],
        images_per_second=float(np.median(history["examples_per_s"][1:] or history["examples_per_s"])),
        confusion=confusion,
    )  # fmt: skip
    full = r.data_info.get("n_train", 0) >= 60000
    r.compare(
        f"test accuracy after {plural(r.cfg.epochs, 'epoch')}", result["accuracy"],
        0.982 if r.cfg.dataset == "mnist" else None, source="Keras MNIST convnet example (5 epochs, full MNIST)",
        note="same data as the reference"
        if full
        else f"trained on {plural(r.data_info.get('n_train'), 'image')}, not 60,000",
    )  # fmt: skip

    fig = viz.compare_histories({"MnistCNN": history}, ("loss", "accuracy"), title="MnistCNN: training and test curves")
    r.figure(
        fig,
        "curves.png",
        "Loss and accuracy per epoch: training (solid, training mode, mean over the epoch) and test (dashed).",
    )
    fig = _confusion_figure(confusion, test_ds.class_names)
    r.figure(fig, "confusion.png", "Confusion matrix on the test set: rows are true classes, columns predictions.")
    wrong = np.flatnonzero(pred != labels)[:12]
    if len(wrong):
        names = test_ds.class_names
        titles = [f"{names[labels[i]]} → {names[pred[i]]}\n{probs[i, pred[i]]:.2f}" for i in wrong]
        fig = viz.image_rows(
            [("misclassified", test_ds.images[wrong])],
            titles=titles,
            title="Test images the model gets wrong (true → predicted, probability)",
        )
        r.figure(fig, "mistakes.png", "The first misclassified test images, with the true and predicted class.")


def _confusion_figure(confusion, class_names):
    import matplotlib.pyplot as plt

    k = len(class_names)
    fig, ax = plt.subplots(figsize=(0.5 * k + 2, 0.5 * k + 1.5))
    share = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if confusion[i, j]:
                ax.text(
                    j,
                    i,
                    str(confusion[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black",
                )
    ax.set_xticks(range(k), class_names, rotation=60, fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, label="share of the true class")
    ax.set_title("Test-set confusion matrix")
    fig.tight_layout()
    return fig


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """mnist-cnn's settings."""

    dataset: Literal["mnist", "fashion_mnist"] = setting("mnist", "the images")
    epochs: int = setting(5, "training epochs", minimum=1)
    batch_size: int = setting(128, "training batch size", minimum=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate", minimum=0)


STUDY = Study(
    name="mnist-cnn",
    summary="MnistCNN (two conv/pool blocks, dense) with Adam for 5 epochs; test accuracy and its mistakes",
    run=run,
    config=Config,
    quick=dict(epochs=1),
    reference="the Keras MNIST convnet example (98.2% test accuracy after 5 epochs on full MNIST)",
)

if __name__ == "__main__":
    main(STUDY)
