"""Reproduce Keras and PyTorch models in cnnlab: same weights, same outputs.

Trains three classic models briefly in their home frameworks on real MNIST digits (the
offline 5,000-digit subset), moves the weights into the cnnlab models with
`cnnlab.interop`, and compares outputs on the test digits:

- the Keras blog's convolutional autoencoder (Keras 3), through a `.weights.h5` file,
  against `models.ConvAutoencoder`: reconstructions, max abs difference <= 1e-5;
- the Keras tutorial's MNIST CNN (Keras 3), from the Keras model object, against
  `models.MnistCNN`: class probabilities, <= 1e-5;
- LeNet-5 in PyTorch, from its `state_dict`, against `models.LeNet5`: probabilities, <= 1e-4.

Run: `python -m experiments.reproduce_keras [--quick] [--out DIR]`. Writes `metrics.json`,
`autoencoder.png`, `classifiers.png` and `report.md`. Needs keras (JAX backend) and torch.
"""

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Config:
    out: str = "results/reproduce_keras"
    n_train: int = 4000  # training digits (the offline subset has 4,000)
    n_test: int = 1000  # test digits compared
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3  # Adam, every framework
    seed: int = 0
    ae_tol: float = 1e-5  # max |Keras - cnnlab| on reconstructions
    cnn_tol: float = 1e-5  # ... on MnistCNN probabilities
    torch_tol: float = 1e-4  # ... on LeNet-5 probabilities vs PyTorch


QUICK = dict(n_train=256, n_test=64, epochs=1, batch_size=64)


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
        raise SystemExit(
            "reproduce_keras needs " + " and ".join(missing) + "; both come with cnnlab's interop extra: "
            "pip install 'cnnlab[interop]'"
        )
    if keras.backend.backend() != "jax":
        raise SystemExit(f"reproduce_keras needs KERAS_BACKEND=jax; Keras runs on {keras.backend.backend()!r}")
    return keras, torch


def keras_conv_autoencoder(keras):
    """The convolutional autoencoder of "Building Autoencoders in Keras" (Chollet, 2016), in Keras 3."""
    L = keras.layers
    inp = keras.Input((28, 28, 1))
    x = L.Conv2D(16, (3, 3), activation="relu", padding="same")(inp)
    x = L.MaxPooling2D((2, 2), padding="same")(x)
    x = L.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = L.MaxPooling2D((2, 2), padding="same")(x)
    x = L.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    encoded = L.MaxPooling2D((2, 2), padding="same")(x)
    x = L.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
    x = L.UpSampling2D((2, 2))(x)
    x = L.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = L.UpSampling2D((2, 2))(x)
    x = L.Conv2D(16, (3, 3), activation="relu")(x)
    x = L.UpSampling2D((2, 2))(x)
    decoded = L.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    return keras.Model(inp, decoded)


def keras_mnist_cnn(keras):
    """The small MNIST CNN of the Keras tutorials, returning logits."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(16, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(10),
        ]
    )


def torch_lenet5(torch):
    """LeNet-5 in PyTorch (NCHW); `padding=2` is Keras's SAME for a 5x5 stride-1 convolution."""
    T = torch.nn
    return T.Sequential(
        T.Conv2d(1, 6, 5, padding=2), T.Tanh(), T.AvgPool2d(2),
        T.Conv2d(6, 16, 5), T.Tanh(), T.AvgPool2d(2), T.Flatten(),
        T.Linear(400, 120), T.Tanh(), T.Linear(120, 84), T.Tanh(), T.Linear(84, 10),
    )  # fmt: skip


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _figure_autoencoder(path, x, keras_rec, ours_rec, n=10):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, n, figsize=(n * 1.1, 3.6))
    for row, (title, imgs) in enumerate([("original", x), ("Keras", keras_rec), ("cnnlab", ours_rec)]):
        for i in range(n):
            ax = axes[row, i]
            ax.imshow(imgs[i, :, :, 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[row, 0].set_ylabel(title)
    fig.suptitle("ConvAutoencoder: Keras reconstructions and cnnlab's with the same weights")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _figure_classifiers(path, x, labels, rows, n=10):
    """Test digits with each pair's predicted class and probability, reference vs cnnlab."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), n, figsize=(n * 1.2, 2.2 * len(rows)))
    for r, (name, p_ref, p_ours) in enumerate(rows):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(x[i, :, :, 0], cmap="gray", vmin=0, vmax=1)
            k, c = int(p_ref[i].argmax()), int(p_ours[i].argmax())
            ax.set_title(f"{k} {p_ref[i, k]:.4f}\n{c} {p_ours[i, c]:.4f}", fontsize=7)
            ax.set_xlabel(f"label {labels[i]}", fontsize=7)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle("Predicted class and probability: reference framework (upper line) vs cnnlab (lower)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(cfg: Config) -> dict:
    """Train, transfer, compare; write metrics.json, figures and report.md to `cfg.out`."""
    keras, torch = _require_frameworks()
    from flax import nnx

    from cnnlab import data, models
    from cnnlab.interop import keras as kio
    from cnnlab.interop import torch as tio

    start = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = data.load("mnist", "train"), data.load("mnist", "test")
    # The offline subset is ordered by digit: draw random subsets, or the first images are all zeros.
    rng = np.random.default_rng(cfg.seed)
    tr = rng.permutation(len(train.labels))[: cfg.n_train]
    te = rng.permutation(len(test.labels))[: cfg.n_test]
    x_train = np.asarray(data.to_float(train.images[tr]))
    y_train = np.asarray(train.labels[tr]).astype(np.int64)
    x_test = np.asarray(data.to_float(test.images[te]))
    y_test = np.asarray(test.labels[te]).astype(np.int64)
    keras.utils.set_random_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    fit = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, verbose=0)
    forward = nnx.jit(lambda m, x: m(x))
    metrics: dict = {"config": dataclasses.asdict(cfg), "data": train.source}

    # 1. The Keras blog's autoencoder: train in Keras, save .weights.h5, load into cnnlab.
    k_ae = keras_conv_autoencoder(keras)
    k_ae.compile(optimizer=keras.optimizers.Adam(cfg.lr), loss="binary_crossentropy")
    hist = k_ae.fit(x_train, x_train, **fit)
    weights_file = out / "conv_autoencoder.weights.h5"
    k_ae.save_weights(weights_file)
    ae = models.ConvAutoencoder(rngs=nnx.Rngs(cfg.seed))
    kio.load_weights(ae, weights_file)
    k_rec = np.asarray(k_ae.predict(x_test, batch_size=cfg.batch_size, verbose=0))
    o_rec = np.asarray(forward(ae, jnp.asarray(x_test)))
    ae_diff = float(np.max(np.abs(k_rec - o_rec)))
    metrics["conv_autoencoder"] = {
        "transfer": "Keras .weights.h5 file",
        "keras_train_loss": float(hist.history["loss"][-1]),
        "test_mse_keras": float(np.mean((k_rec - x_test) ** 2)),
        "test_mse_cnnlab": float(np.mean((o_rec - x_test) ** 2)),
        "max_abs_diff": ae_diff,
        "tolerance": cfg.ae_tol,
        "ok": ae_diff <= cfg.ae_tol,
    }
    _figure_autoencoder(out / "autoencoder.png", x_test, k_rec, o_rec)

    # 2. The Keras tutorial CNN: train in Keras, load from the model object.
    k_cnn = keras_mnist_cnn(keras)
    k_cnn.compile(
        optimizer=keras.optimizers.Adam(cfg.lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    hist = k_cnn.fit(x_train, y_train, **fit)
    cnn = models.MnistCNN(rngs=nnx.Rngs(cfg.seed))
    kio.load_weights(cnn, k_cnn)
    p_keras = _softmax(np.asarray(k_cnn.predict(x_test, batch_size=cfg.batch_size, verbose=0), np.float64))
    p_cnn = np.asarray(nnx.jit(lambda m, x: m.predict(x))(cnn, jnp.asarray(x_test)))
    cnn_diff = float(np.max(np.abs(p_keras - p_cnn)))
    metrics["mnist_cnn"] = {
        "transfer": "Keras model object",
        "keras_train_accuracy": float(hist.history["accuracy"][-1]),
        "test_accuracy_keras": float(np.mean(p_keras.argmax(-1) == y_test)),
        "test_accuracy_cnnlab": float(np.mean(p_cnn.argmax(-1) == y_test)),
        "max_abs_diff": cnn_diff,
        "tolerance": cfg.cnn_tol,
        "ok": cnn_diff <= cfg.cnn_tol,
    }

    # 3. LeNet-5 in PyTorch: train with Adam, load its state_dict (OIHW kernels, NCHW flatten).
    t_lenet = torch_lenet5(torch)
    opt = torch.optim.Adam(t_lenet.parameters(), lr=cfg.lr)
    xt, yt = torch.from_numpy(x_train.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(cfg.batch_size):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(t_lenet(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    t_lenet.eval()
    with torch.no_grad():
        p_torch = _softmax(t_lenet(torch.from_numpy(x_test.transpose(0, 3, 1, 2).copy())).double().numpy())
    lenet = models.LeNet5(rngs=nnx.Rngs(cfg.seed))
    tio.load_state_dict(lenet, t_lenet.state_dict())
    p_lenet = np.asarray(nnx.jit(lambda m, x: m.predict(x))(lenet, jnp.asarray(x_test)))
    lenet_diff = float(np.max(np.abs(p_torch - p_lenet)))
    metrics["lenet5"] = {
        "transfer": "PyTorch state_dict",
        "torch_final_batch_loss": float(loss.item()),
        "test_accuracy_torch": float(np.mean(p_torch.argmax(-1) == y_test)),
        "test_accuracy_cnnlab": float(np.mean(p_lenet.argmax(-1) == y_test)),
        "max_abs_diff": lenet_diff,
        "tolerance": cfg.torch_tol,
        "ok": lenet_diff <= cfg.torch_tol,
    }
    _figure_classifiers(
        out / "classifiers.png",
        x_test,
        y_test,
        [("MnistCNN\nKeras/cnnlab", p_keras, p_cnn), ("LeNet5\nPyTorch/cnnlab", p_torch, p_lenet)],
    )

    metrics["all_ok"] = all(metrics[k]["ok"] for k in ("conv_autoencoder", "mnist_cnn", "lenet5"))
    metrics["versions"] = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": __import__("flax").__version__,
        "keras": keras.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    metrics["device"] = str(jax.devices()[0])
    metrics["wall_time_s"] = round(time.perf_counter() - start, 2)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "report.md").write_text(_report(metrics))
    return metrics


def _report(m: dict) -> str:
    c = m["config"]
    ae, cnn, lenet = m["conv_autoencoder"], m["mnist_cnn"], m["lenet5"]
    rows = [
        ("ConvAutoencoder (Keras blog)", ae, "reconstructions",
         f"test MSE Keras {ae['test_mse_keras']:.4f}, cnnlab {ae['test_mse_cnnlab']:.4f}"),
        ("MnistCNN (Keras tutorial)", cnn, "probabilities",
         f"test accuracy Keras {cnn['test_accuracy_keras']:.3f}, cnnlab {cnn['test_accuracy_cnnlab']:.3f}"),
        ("LeNet5 (PyTorch)", lenet, "probabilities",
         f"test accuracy PyTorch {lenet['test_accuracy_torch']:.3f}, cnnlab {lenet['test_accuracy_cnnlab']:.3f}"),
    ]  # fmt: skip
    table = "\n".join(
        f"| {name} | {d['transfer']} | {what} | {d['max_abs_diff']:.2e} | {d['tolerance']:.0e} | "
        f"{'yes' if d['ok'] else '**no**'} | {extra} |"
        for name, d, what, extra in rows
    )
    return f"""# Reproducing Keras and PyTorch models in cnnlab

Each model was trained briefly in its own framework ({c["epochs"]} epoch(s), Adam {c["lr"]}, batch
{c["batch_size"]}, {c["n_train"]} training digits; seed {c["seed"]}), its weights moved into the cnnlab
model with `cnnlab.interop`, and both evaluated on {c["n_test"]} test digits. The claim is that
the two compute the same function: the maximum absolute difference of the outputs must be
within the tolerance (float32 summation order differs between the frameworks).

| model | weights from | compared | max abs diff | tolerance | within | outcome of the brief training |
| --- | --- | --- | --- | --- | --- | --- |
{table}

![autoencoder](autoencoder.png)

Originals (top), the Keras autoencoder's reconstructions, and cnnlab's with the same weights.

![classifiers](classifiers.png)

Predicted class and probability on test digits, reference framework above cnnlab.

Data: {m["data"]}.
Device: {m["device"]}; {", ".join(f"{k} {v}" for k, v in m["versions"].items())}; wall time {m["wall_time_s"]} s.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.reproduce_keras", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small configuration for tests and CI")
    parser.add_argument("--out", default=Config.out, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    cfg = Config(out=args.out)
    if args.quick:
        cfg = dataclasses.replace(cfg, **QUICK)
    # Keras's Variable.__array__ predates NumPy 2's `copy` keyword; saving weights makes NumPy
    # warn about it once per array. Harmless: NumPy copies, which is what Keras wants.
    warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword")
    metrics = run(cfg)
    for key in ("conv_autoencoder", "mnist_cnn", "lenet5"):
        d = metrics[key]
        print(f"{key:17s} max |reference - cnnlab| = {d['max_abs_diff']:.2e} (tolerance {d['tolerance']:.0e})")
    print(f"wrote {cfg.out}/metrics.json, autoencoder.png, classifiers.png, report.md")
    return 0 if metrics["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
