"""`cnnlab.interop.keras`: weights from Keras 3 models, `get_weights()` lists and files, and back."""

import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx
from keras import layers as L

from cnnlab import models, nn
from cnnlab.interop import keras as kio
from tests.models import keras_models as km
from tests.nn.keras_oracle import keras_call, keras_numerics, randomize
from tests.tolerances import assert_close

Z = km.Z


# Keras's `Variable.numpy()` (behind `get_weights()` and saving) calls `np.array(variable)`, whose
# `__array__` predates NumPy 2's `copy` keyword; NumPy warns and copies, which is all Keras wants.
GET_WEIGHTS_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"


def _arrays(model):
    return {"/".join(map(str, p)): np.asarray(v[...]) for p, v in nnx.iter_graph(model)
            if isinstance(v, nnx.Param | nnx.BatchStat)}  # fmt: skip


def _assert_same_weights(a, b):
    wa, wb = _arrays(a), _arrays(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)


@pytest.fixture(scope="module")
def autoencoder_pair():
    """A randomized ConvAutoencoder and the Keras blog's autoencoder (one nested Sequential) holding its weights."""
    ours = randomize(models.ConvAutoencoder(rngs=nnx.Rngs(1)), scale=None)
    with keras_numerics():
        encoder, decoder = km.conv_autoencoder()
        theirs = keras.Sequential([keras.Input((28, 28, 1)), encoder, decoder])
        theirs.set_weights(kio.export_weights(ours))
    return ours, theirs


def test_export_weights_is_keras_get_weights_order(autoencoder_pair):
    ours, theirs = autoencoder_pair
    exported = kio.export_weights(ours)
    assert [w.shape for w in exported] == [tuple(w.shape) for w in theirs.weights]
    x = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype(np.float32)
    assert_close(nnx.jit(lambda m, x: m(x))(ours, jnp.asarray(x)), keras_call(theirs, x))


@pytest.mark.filterwarnings(GET_WEIGHTS_WARNING)
@pytest.mark.parametrize("form", ["model", "list"])
def test_load_from_keras_model_and_weight_list(autoencoder_pair, form):
    ours, theirs = autoencoder_pair
    fresh = models.ConvAutoencoder(rngs=nnx.Rngs(2))
    kio.load_weights(fresh, theirs if form == "model" else theirs.get_weights())
    _assert_same_weights(fresh, ours)


@pytest.mark.filterwarnings(GET_WEIGHTS_WARNING)
@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_load_from_files_with_interleaved_layer_kinds(tmp_path, suffix):
    """Dense, BatchNormalization, Conv2DTranspose and Conv2D groups, paired by kind in Keras's numbering."""
    ours = randomize(models.NoiseToDigit(6, rngs=nnx.Rngs(0)), scale=None)
    with keras_numerics():
        theirs = km.noise_to_digit(6)
        theirs.set_weights(kio.export_weights(ours))
        path = tmp_path / f"g{suffix}"
        theirs.save_weights(path) if suffix == ".weights.h5" else theirs.save(path)
    fresh = models.NoiseToDigit(6, rngs=nnx.Rngs(5))
    kio.load_weights(fresh, path)
    _assert_same_weights(fresh, ours)


@pytest.mark.filterwarnings(GET_WEIGHTS_WARNING)
def test_load_mnist_cnn_from_a_keras_file_into_conv2d_max_pool_layers(tmp_path):
    """MnistCNN holds its conv/pool pairs as `nn.Conv2DMaxPool`; a Keras file's conv2d groups still
    pair with the convolutions inside, and the outputs are Keras's."""
    rng = np.random.default_rng(0)
    with keras_numerics():
        theirs = km.mnist_cnn()
        theirs.set_weights([rng.normal(0, 0.3, tuple(w.shape)).astype(np.float32) for w in theirs.weights])
        theirs.save_weights(tmp_path / "mnist.weights.h5")
    ours = models.MnistCNN(rngs=nnx.Rngs(0))
    kio.load_weights(ours, tmp_path / "mnist.weights.h5")
    np.testing.assert_array_equal(ours.layers[2].conv.bias[...], np.asarray(theirs.layers[3].bias.value))
    x = rng.uniform(size=(3, 28, 28, 1)).astype(np.float32)
    assert_close(nnx.jit(lambda m, x: m(x))(ours, jnp.asarray(x)), keras_call(theirs, x))


def test_mismatched_shapes_name_the_layer_and_both_shapes(autoencoder_pair):
    _, theirs = autoencoder_pair
    other = models.ConvAutoencoder(rngs=nnx.Rngs(3))
    other.decoder[4].kernel = nnx.Param(jnp.zeros((3, 3, 8, 15)))  # pretend a 15-filter layer
    before = _arrays(other)
    with pytest.raises(
        ValueError,
        match=r"load_weights: decoder\.4 \(Conv2D\) kernel has shape \(3, 3, 8, 15\), "
        r"but Keras layer 'conv2d_\d+' holds \(3, 3, 8, 16\)",
    ):
        kio.load_weights(other, theirs)
    after = _arrays(other)
    assert all(np.array_equal(before[k], after[k]) for k in before), "a failed load must write nothing"


@pytest.mark.filterwarnings(GET_WEIGHTS_WARNING)
def test_mismatched_layer_counts_and_kinds():
    with keras_numerics():
        lenet = km.lenet5()
    with pytest.raises(ValueError, match=r"the model has 3 layers with weights, the Keras model 5"):
        kio.load_weights(nnx.eval_shape(lambda: models.MnistCNN(rngs=nnx.Rngs(0))), lenet)
    with pytest.raises(ValueError, match=r"holds 14 weight arrays in 7 layers, the list has 10"):
        kio.load_weights(models.ConvAutoencoder(rngs=nnx.Rngs(0)), lenet.get_weights())
    with pytest.raises(ValueError, match=r"load_weights: 0 \(Dense\) is paired with Keras layer '.*' \(Conv2D\)"):
        kio.load_weights(nn.Sequential(nn.Dense(2, 3, rngs=nnx.Rngs(0))), km.sequential((4, 4, 2), L.Conv2D(3, 1, **Z)))
