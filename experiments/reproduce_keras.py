"""Reproduce Keras and PyTorch models in cnnlab: same weights, same outputs.

Trains three classic models in their home frameworks on real MNIST digits (the offline
5,000-digit subset), moves the weights into the cnnlab models with `cnnlab.interop`, and
compares outputs on the test digits:

- seed 000's convolutional autoencoder (Visual Recognition assignment 4, Listing 3; the Keras
  blog's) in Keras 3, trained as the seed did (Adadelta(lr=0.5, rho=0.95), binary
  cross-entropy, 30 epochs, batch 32; `experiments/_seed000.py`): its weights saved as NumPy
  and its forward pass rerun one `cnnlab.ops` call at a time in the seed's Listing 8 order,
  and loaded through a `.weights.h5` file into `models.ConvAutoencoder`: reconstructions, max
  abs difference <= 1e-5 both ways; its per-layer parameter tables against Listings 1 and 2
  (1,904 and 2,481) and Keras's own counts;
- the Keras tutorial's MNIST CNN (Keras 3), from the Keras model object, against
  `models.MnistCNN`: class probabilities, <= 1e-5;
- LeNet-5 in PyTorch, from its `state_dict`, against `models.LeNet5`: probabilities, <= 1e-4.

Run: `cnnlab run reproduce-keras [--quick]` (or `python -m experiments.reproduce_keras`). Writes
`metrics.json`, `seed000_figure_1_2.png`, `classifiers.png`, `seed000_weights.npz` and `report.md`;
exits with status 1 if an output differs by more than its tolerance. Needs keras (JAX backend) and torch:
`pip install -e ".[interop]"`.
"""

import dataclasses
import os
import warnings
from typing import Literal

import jax.numpy as jnp
import numpy as np

from . import _seed000
from ._config import StudyConfig, setting
from ._harness import Run, Study, UsageError, plural
from ._runner import main


def _require_frameworks():
    """Import keras (JAX backend) and torch, or say which package to install."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    missing = []
    try:
        import keras
    except ImportError:
        missing.append("keras>=3 (pip install 'keras>=3'; it runs on the JAX backend)")
        keras = None
    try:
        import torch
    except ImportError:
        missing.append("torch (pip install torch; the CPU wheel is enough)")
        torch = None
    if missing:
        raise UsageError(
            "reproduce-keras needs " + " and ".join(missing) + "; both come with cnnlab's interop extra: "
            "pip install 'cnnlab[interop]'"
        )
    if keras.backend.backend() != "jax":
        raise UsageError(f"reproduce-keras needs KERAS_BACKEND=jax; Keras runs on {keras.backend.backend()!r}")
    return keras, torch


def run(r: Run) -> None:
    """Train in Keras and PyTorch, transfer the weights, compare the outputs on test images."""
    keras, torch = _require_frameworks()
    # Keras's Variable.__array__ predates NumPy 2's `copy` keyword; saving weights makes NumPy
    # warn about it once per array. Harmless: NumPy copies, which is what Keras wants.
    warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword")
    from flax import nnx

    from cnnlab import data, models
    from cnnlab.interop import keras as kio
    from cnnlab.interop import reference as ref
    from cnnlab.interop import torch as tio
    from cnnlab.viz import agreement

    cfg = r.cfg
    train, test = r.data("train"), r.data("test")
    # The offline subset is ordered by digit: draw random subsets, or the first images are all zeros.
    rng = np.random.default_rng(r.seed)
    tr = rng.permutation(len(train.labels))[: cfg.n_train]
    te = rng.permutation(len(test.labels))[: cfg.n_test]
    r.check_batch(len(tr))
    x_train = np.asarray(data.to_float(train.images[tr]))
    y_train = np.asarray(train.labels[tr]).astype(np.int64)
    x_test = np.asarray(data.to_float(test.images[te]))
    y_test = np.asarray(test.labels[te]).astype(np.int64)
    keras.utils.set_random_seed(r.seed)
    torch.manual_seed(r.seed)
    epochs, batch_size, lr = cfg.epochs, cfg.batch_size, cfg.learning_rate
    fit = dict(epochs=epochs, batch_size=batch_size, verbose=0)
    probabilities = nnx.jit(lambda m, x: m.probabilities(x))

    # 1. Seed 000's autoencoder, trained as the seed did; rerun op by op and through cnnlab's model.
    seed000 = _seed000.run(r, keras, x_train, x_test)
    ae = seed000.model

    # 2. The Keras tutorial CNN: train in Keras, load from the model object.
    r.log("training the Keras tutorial's MNIST CNN in Keras")
    k_cnn = ref.keras_mnist_cnn(keras)
    k_cnn.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    k_cnn.fit(x_train, y_train, **fit)
    cnn = models.MnistCNN(rngs=nnx.Rngs(r.seed))
    kio.load_weights(cnn, k_cnn)
    p_keras = ref.softmax(np.asarray(k_cnn.predict(x_test, batch_size=batch_size, verbose=0), np.float64))
    p_cnn = np.asarray(probabilities(cnn, jnp.asarray(x_test)))
    cnn_diff = float(np.max(np.abs(p_keras - p_cnn)))

    # 3. LeNet-5 in PyTorch: train with Adam, load its state_dict (OIHW kernels, NCHW flatten).
    r.log("training LeNet-5 in PyTorch")
    t_lenet = ref.train_torch_classifier(
        torch, ref.torch_lenet5(torch), x_train, y_train, epochs=epochs, batch_size=batch_size, learning_rate=lr,
        seed=r.seed,
    )  # fmt: skip
    with torch.no_grad():
        p_torch = ref.softmax(t_lenet(torch.from_numpy(x_test.transpose(0, 3, 1, 2).copy())).double().numpy())
    lenet = models.LeNet5(rngs=nnx.Rngs(r.seed))
    tio.load_state_dict(lenet, t_lenet.state_dict())
    p_lenet = np.asarray(probabilities(lenet, jnp.asarray(x_test)))
    lenet_diff = float(np.max(np.abs(p_torch - p_lenet)))

    shape = x_test.shape[1:]  # kept as trained elsewhere and loaded here, with their layer tables in the report
    for tag, model in (("keras_autoencoder", ae), ("keras_cnn", cnn), ("torch_lenet5", lenet)):
        r.keep(model, tag, input_shape=shape)
    ok = {
        **seed000.ok,
        "mnist_cnn": cnn_diff <= cfg.cnn_tol,
        "lenet5": lenet_diff <= cfg.torch_tol,
    }
    r.metric(
        cnn_max_abs_diff=cnn_diff,
        lenet5_max_abs_diff=lenet_diff,
        cnn_test_accuracy_keras=float(np.mean(p_keras.argmax(-1) == y_test)),
        cnn_test_accuracy_cnnlab=float(np.mean(p_cnn.argmax(-1) == y_test)),
        lenet5_test_accuracy_torch=float(np.mean(p_torch.argmax(-1) == y_test)),
        lenet5_test_accuracy_cnnlab=float(np.mean(p_lenet.argmax(-1) == y_test)),
        ok=ok,
        all_ok=all(ok.values()),
        keras_version=keras.__version__,
        torch_version=torch.__version__,
    )
    within = "within" if all(ok.values()) else "**not** within"
    r.compare(
        "MnistCNN (Keras model object): max abs difference of probabilities",
        cnn_diff,
        f"<= {cfg.cnn_tol:.0e}",
        source="float32 summation order",
        note="the Keras model, same weights",
    )
    r.compare(
        "LeNet5 (PyTorch state_dict): max abs difference of probabilities",
        lenet_diff,
        f"<= {cfg.torch_tol:.0e}",
        source="float32 summation order",
        note="the PyTorch model, same weights",
    )
    r.section(
        f"The two classifiers were each trained briefly in its own framework ({plural(epochs, 'epoch')}, Adam {lr}, "
        f"batch {batch_size}, {plural(len(tr), 'training image')}; seed {r.seed}), its weights moved into the cnnlab "
        f"model with `cnnlab.interop`, and both evaluated on {plural(len(te), 'test image')}. The claim is that each "
        f"pair computes the same function: every output agrees to the tolerance ({within} it here, the autoencoder "
        f"included). After the transfer both give test accuracy {np.mean(p_cnn.argmax(-1) == y_test):.3f} "
        f"(MnistCNN) and {np.mean(p_lenet.argmax(-1) == y_test):.3f} (LeNet5). The autoencoder's Keras weights are "
        "kept beside this report as `conv_autoencoder.weights.h5` and, as seed 000 saves them, `seed000_weights.npz`."
    )
    r.figure(
        agreement.predictions(x_test, y_test, [("MnistCNN\nKeras/cnnlab", p_keras, p_cnn),
                                             ("LeNet5\nPyTorch/cnnlab", p_torch, p_lenet)]),
        "classifiers.png",
        "Predicted class and probability on test images: reference framework (upper line) above cnnlab (lower).",
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Config(StudyConfig):
    """reproduce-keras's settings."""

    dataset: Literal["mnist", "fashion_mnist"] = setting("mnist", "the images")
    ae_epochs: int = setting(30, "seed 000's autoencoder: Keras training epochs (Listing 8: 30)", minimum=1)
    ae_batch_size: int = setting(
        128, "seed 000's autoencoder: batch size (unprinted there: its cited source's, the Keras blog's 128)", minimum=1
    )
    epochs: int = setting(10, "the classifiers' training epochs in Keras and PyTorch", minimum=1)
    batch_size: int = setting(128, "the classifiers' training batch size", minimum=1)
    n_train: int = setting(4000, "training images", minimum=1)
    n_test: int = setting(1000, "test images the outputs are compared on", minimum=1)
    learning_rate: float = setting(1e-3, "the classifiers' Adam learning rate", minimum=0)
    ae_tol: float = setting(1e-5, "largest |cnnlab - Keras| allowed for the autoencoder's outputs", minimum=0)
    cnn_tol: float = setting(1e-5, "largest |cnnlab - Keras| allowed for the classifier's outputs", minimum=0)
    torch_tol: float = setting(1e-4, "largest |cnnlab - PyTorch| allowed", minimum=0)


STUDY = Study(
    name="reproduce-keras",
    summary="train in Keras 3 and PyTorch, load the weights into cnnlab, check the outputs agree (needs [interop])",
    run=run,
    config=Config,
    quick=dict(n_train=256, n_test=64, epochs=1, batch_size=64, ae_epochs=2),
    reference="weights trained in Keras 3 and PyTorch reproduce those frameworks' outputs in cnnlab",
)  # fmt: skip

if __name__ == "__main__":
    main(STUDY)
