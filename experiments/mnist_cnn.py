"""``mnist-cnn``: seed 004's MNIST CNN ("MNIST with Conv2d", In [17]-[19]) trained as the seed trains it.

`models.MnistCNN()` is the seed's network (two 3x3 convolutions with no activation, max
pooling, one Dense; 12,794 parameters) and the defaults are the seed's ``compile`` and
``fit``: sparse categorical cross-entropy, ``Adam()`` with Keras's defaults (learning rate
1e-3, epsilon 1e-7), batch 32 (Keras's default) and 5 epochs. The seed scores 98.21% on the
10,000 MNIST test digits after training on all 60,000 (In [19]).

Offline, cnnlab trains on the 4,000 training digits of the embedded subset and tests on its
1,000 real test digits, so expect a few points less; ``--data-dir`` with the four MNIST IDX
files gives the seed's data. ``benchmarks/seed004_keras.py`` trains the seed's own Keras model
on the same split for the like-for-like number. ``--set activation=relu`` is cnnlab's variant
(a ReLU after each convolution, as the Keras tutorials write it).
"""

import dataclasses
from typing import Literal

import numpy as np

from ._config import StudyConfig, setting
from ._harness import Run, Study, plural
from ._runner import main

#: Seed 004's test accuracy after 5 epochs on full MNIST (In [19]).
SEED_ACCURACY = 0.9821


def run(r: Run) -> None:
    from flax import nnx

    from cnnlab import models, ops, train, viz
    from cnnlab.viz import classifiers

    cfg = r.cfg
    train_ds, test_ds = r.data("train"), r.data("test")
    activation = None if cfg.activation == "linear" else cfg.activation
    model = models.MnistCNN(activation=activation, rngs=nnx.Rngs(r.seed))
    history = r.fit(
        model, train_ds, val_data=test_ds, loss="softmax_cross_entropy",
        optimizer={"name": "adam", "learning_rate": cfg.learning_rate},
    )  # fmt: skip
    result = train.evaluate(model, test_ds, loss="softmax_cross_entropy")
    # train.predict gives logits: their softmax is the probability the mistakes figure shows.
    probs = np.asarray(ops.softmax(train.predict(model, test_ds.images)))
    pred, labels = probs.argmax(-1), np.asarray(test_ds.labels)
    confusion = classifiers.confusion_counts(labels, pred, len(test_ds.class_names))
    r.metric(
        test_accuracy=result["accuracy"], test_loss=result["loss"],
        train_accuracy=history["accuracy"][-1], train_loss=history["loss"][-1],
        images_per_second=float(np.median(history["examples_per_s"][1:] or history["examples_per_s"])),
        confusion=confusion,
    )  # fmt: skip
    _compare(r, result["accuracy"])

    fig = viz.compare_histories({"MnistCNN": history}, ("loss", "accuracy"), title="MnistCNN: training and test curves")
    r.figure(
        fig,
        "curves.png",
        "Loss and accuracy per epoch: training (solid, training mode, mean over the epoch) and test (dashed). "
        "The seed prints only its training numbers (In [18]: accuracy 0.866 after epoch 1, 0.987 after 5).",
    )
    fig = classifiers.confusion_matrix(confusion, test_ds.class_names)
    r.figure(fig, "confusion.png", "Confusion matrix on the test set: rows are true classes, columns predictions.")
    wrong = classifiers.pick_mistakes(labels, pred, 12, seed=r.seed)
    if len(wrong):
        fig = classifiers.mistakes(
            test_ds.images[wrong], labels[wrong], probs[wrong], test_ds.class_names,
            title=f"MnistCNN: {plural(len(wrong), 'misclassified test image')}, its softmax over the classes",
        )  # fmt: skip
        r.figure(
            fig,
            "mistakes.png",
            f"Misclassified test images ({int((pred != labels).sum())} of {len(labels)} in all), drawn across "
            "the true classes in turn (not the first errors of a test set sorted by class). Under each, the "
            "model's softmax probability for every class: green the true class, red the predicted one.",
        )


def _compare(r: Run, accuracy: float) -> None:
    """The seed's number beside ours, saying how the data differ."""
    cfg, info = r.cfg, r.data_info
    quantity = f"test accuracy after {plural(cfg.epochs, 'epoch')}"
    if cfg.dataset != "mnist":
        r.compare(quantity, accuracy, None, source="seed 004 trains on MNIST only",
                  note=f"{cfg.dataset}: no seed number to compare with")  # fmt: skip
        return
    n_train, n_test = info.get("n_train", 0), info.get("n_test", 0)
    same = n_train == 60000 and n_test == 10000
    note = "the seed's data: MNIST's 60,000 training and 10,000 test digits" if same else (
        f"trained on {plural(n_train, 'digit')} and tested on {plural(n_test, 'digit')}, not 60,000 and 10,000; "
        "benchmarks/seed004_keras.py trains the seed's Keras model on the same split"
    )  # fmt: skip
    if (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.activation) != (5, 32, 1e-3, "linear"):
        note += "; not the seed's configuration (5 epochs, batch 32, Adam 1e-3, no activation)"
    r.compare(quantity, accuracy, SEED_ACCURACY, source='seed 004 "MNIST with Conv2d", In [19]', note=note)


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """mnist-cnn's settings: seed 004's configuration by default."""

    dataset: Literal["mnist", "fashion_mnist"] = setting("mnist", "the images")
    epochs: int = setting(5, "training epochs (seed 004: 5)", minimum=1)
    batch_size: int = setting(32, "training batch size (seed 004: Keras's default, 32)", minimum=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate (seed 004: Keras's default, 1e-3)", minimum=0)
    activation: Literal["linear", "relu"] = setting(
        "linear", "after each convolution: linear (seed 004's, none) or relu (cnnlab's variant)"
    )


STUDY = Study(
    name="mnist-cnn",
    summary="Seed 004's MNIST CNN (no activations) with Adam, batch 32, 5 epochs; test accuracy and its mistakes",
    run=run,
    config=Config,
    quick=dict(epochs=1),
    reference='seed 004 "MNIST with Conv2d" (98.21% test accuracy after 5 epochs on full MNIST, In [19])',
)

if __name__ == "__main__":
    main(STUDY)
