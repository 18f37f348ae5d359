"""cnnlab.interop.reference: the Keras and PyTorch reference networks are the cnnlab models (parameter counts,
shapes, and outputs once the weights are moved), the PyTorch loop trains, softmax is the textbook one."""

import functools
import types

import jax
import keras
import numpy as np
import pytest
import torch
from flax import nnx

from cnnlab import models, nn
from cnnlab.interop import keras as kio
from cnnlab.interop import reference as ref
from cnnlab.interop import torch as tio

# Keras's random initializers compile for many seconds per shape; the builders take the framework as an
# argument, so the test hands them Keras with zero-initialised kernels, then gives them our weights.
_L = keras.layers
ZERO_KERAS = types.SimpleNamespace(
    Input=keras.Input, Model=keras.Model, Sequential=keras.Sequential,
    layers=types.SimpleNamespace(
        Conv2D=functools.partial(_L.Conv2D, kernel_initializer="zeros"),
        Dense=functools.partial(_L.Dense, kernel_initializer="zeros"),
        MaxPooling2D=_L.MaxPooling2D, UpSampling2D=_L.UpSampling2D, Flatten=_L.Flatten,
    ),
)  # fmt: skip


@pytest.mark.parametrize(
    "build, ours",
    [(ref.keras_conv_autoencoder, models.ConvAutoencoder), (ref.keras_mnist_cnn, models.MnistCNN)],
)
def test_keras_references_are_the_cnnlab_models(build, ours):
    k = build(ZERO_KERAS)
    model = ours(rngs=nnx.Rngs(0))
    assert k.count_params() == nn.count_params(model)
    # With our weights, Keras computes what our model computes.
    k.set_weights(kio.export_weights(model))  # shapes and order must match, or this raises
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    with jax.numpy_rank_promotion("allow"):  # Keras's bias add broadcasts
        expected = np.asarray(k.predict(x, verbose=0))
    np.testing.assert_allclose(expected, np.asarray(model(x)), atol=1e-5)


def test_torch_lenet5_is_lenet5():
    t = ref.torch_lenet5(torch)
    model = models.LeNet5(rngs=nnx.Rngs(0))
    assert sum(p.numel() for p in t.parameters()) == nn.count_params(model)
    tio.load_state_dict(model, t.state_dict())
    x = np.random.default_rng(1).random((3, 28, 28, 1)).astype(np.float32)
    with torch.no_grad():
        logits = t(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    np.testing.assert_allclose(logits, np.asarray(model(x)), atol=1e-4)


def test_train_torch_classifier_learns_and_is_reproducible():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 64).astype(np.int64)
    x = (rng.normal(size=(64, 4, 4, 1)) + 2.0 * y[:, None, None, None]).astype(np.float32)  # class 1 is brighter

    def trained(seed):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
        return ref.train_torch_classifier(torch, model, x, y, epochs=20, batch_size=16, learning_rate=0.05, seed=seed)

    a, b = trained(0), trained(0)
    assert not a.training
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        pa, pb = a(xt).numpy(), b(xt).numpy()
    np.testing.assert_array_equal(pa, pb)  # same seed, same shuffles, same weights
    assert (pa.argmax(-1) == y).mean() > 0.9


def test_softmax():
    p = ref.softmax([[0.0, np.log(3.0)], [1000.0, 1000.0]])
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)
    z = np.random.default_rng(3).normal(size=(5, 7))
    np.testing.assert_allclose(ref.softmax(z), np.exp(z) / np.exp(z).sum(-1, keepdims=True), rtol=1e-13)
