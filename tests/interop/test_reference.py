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


def _seed004_model():
    """Seed 004's In [17], as the notebook writes it (tensorflow.keras there, Keras 3 on JAX here)."""
    layers, models_, losses, optimizers = keras.layers, keras.models, keras.losses, keras.optimizers
    model = models_.Sequential([
        layers.Input(shape=(28,28)),
        layers.Reshape((28,28,1)),
        layers.Conv2D(32, (3,3), padding='same'),
        layers.MaxPooling2D((2,2)),                   # 14x14
        layers.Conv2D(16, (3,3), padding='same'),
        layers.MaxPooling2D((2,2)),                   # 7x7
        layers.Flatten(),
        layers.Dense(10, activation='softmax'),
    ])  # fmt: skip
    model.compile(loss=losses.SparseCategoricalCrossentropy(), optimizer=optimizers.Adam(), metrics=["acc"])
    return model


def _config(model):
    """Each layer's class and configuration (names aside), the loss's and the optimizer's."""
    layers = [(type(la).__name__, {k: v for k, v in la.get_config().items() if k != "name"}) for la in model.layers]
    opt = {k: v for k, v in model.optimizer.get_config().items() if k != "name"}
    return layers, type(model.loss).__name__, opt


# Keras's `Variable.numpy()` (optimizer configs, `get_weights`) predates NumPy 2's `copy` keyword; NumPy warns.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_seed004_keras_network_loads_into_mnist_cnn_and_agrees_on_real_digits():
    """Seed 004's exact Keras model (no activation on its convolutions) and `MnistCNN()` holding its
    weights give the same class probabilities on real MNIST digits; the ReLU variant does not."""
    from cnnlab import data

    seed = _seed004_model()
    assert _config(ref.keras_seed004_cnn(keras)) == _config(seed)  # the builder the benchmark uses is the seed's
    rng = np.random.default_rng(4)
    seed.set_weights([rng.normal(0, 0.2, tuple(w.shape)).astype(np.float32) for w in seed.weights])
    test = data.load("mnist", "test", source="offline")
    x = (test.images[::5, ..., 0] / 255.0).astype(np.float32)  # (200, 28, 28), as the seed feeds Keras
    with jax.numpy_rank_promotion("allow"):  # Keras's bias add broadcasts
        expected = np.asarray(seed.predict(x, verbose=0))
    ours = models.MnistCNN(rngs=nnx.Rngs(0))
    kio.load_weights(ours, seed)
    got = np.asarray(nnx.jit(lambda m, x: m.probabilities(x))(ours, x))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    relu = models.MnistCNN(activation="relu", rngs=nnx.Rngs(0))
    kio.load_weights(relu, seed)
    assert np.abs(np.asarray(relu.probabilities(x)) - expected).max() > 1e-2
