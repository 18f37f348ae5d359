"""`cnnlab.models`: shapes, parameter counts (the studies' numbers and Keras's `count_params()`),
and forward passes against the same networks written in Keras 3 holding our weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import models, nn
from tests.models import keras_models as km
from tests.nn.keras_oracle import keras_call, keras_numerics, randomize
from tests.nn.test_conv_pool_order import _relu_on
from tests.tolerances import assert_close

MNIST = (3, 28, 28, 1)

# (constructor, input shape, output shape, total parameters); the totals quoted in the
# studies (MnistCNN 12,794, LeNet-5 61,706, Keras cifar10_cnn 1,250,858) are written out.
CASES = {
    "MnistCNN": (lambda r: models.MnistCNN(rngs=r), MNIST, (3, 10), 12_794),
    "MnistCNN-relu": (lambda r: models.MnistCNN(activation="relu", rngs=r), MNIST, (3, 10), 12_794),
    # Seed 003: 6 * (25 + 1) + 1176 * 10 + 10.
    "OneConvCNN": (lambda r: models.OneConvCNN(rngs=r), MNIST, (3, 10), 156 + 11_770),
    "LeNet5": (lambda r: models.LeNet5(rngs=r), MNIST, (3, 10), 61_706),
    "LeNet5Improved": (lambda r: models.LeNet5Improved(rngs=r), MNIST, (3, 10), 327_242),
    "CifarCNN": (lambda r: models.CifarCNN(rngs=r), (3, 32, 32, 3), (3, 10), 1_250_858),
    "CifarCNN-bn": (lambda r: models.CifarCNN(True, rngs=r), (3, 32, 32, 3), (3, 10), 1_250_858 + 4 * 704),
    "ConvAutoencoder": (lambda r: models.ConvAutoencoder(rngs=r), MNIST, MNIST, 1_904 + 2_481),
    "StridedAutoencoder": (lambda r: models.StridedAutoencoder(rngs=r), MNIST, MNIST, 25_090 + 26_369),
    "DenoisingAutoencoder": (lambda r: models.DenoisingAutoencoder(rngs=r), MNIST, MNIST, 1_264 + 921),
    "LeNetAutoencoder": (lambda r: models.LeNetAutoencoder(rngs=r), MNIST, MNIST, 61_706 + 62_081),
    # Seed 003 Q16's layers, counted by PyTorch in tests/models/test_seed_autoencoders.py.
    "ImprovedLeNetAutoencoder": (lambda r: models.ImprovedLeNetAutoencoder(rngs=r), MNIST, MNIST, 104_376 + 104_681),
    "WideLeNetAutoencoder": (lambda r: models.WideLeNetAutoencoder(rngs=r), MNIST, MNIST, 687_371),
    "NoiseToDigit": (lambda r: models.NoiseToDigit(rngs=r), (3, 100), MNIST, 385_345),
    # Stages of two 3x3 convolutions (w=16): 1->16, 16->32, 32->64, (64+32)->32, (32+16)->16; 1x1 head.
    "Segmenter": (
        lambda r: models.Segmenter(3, rngs=r),
        (3, 28, 28, 1),
        (3, 28, 28, 3),
        (160 + 2_320) + (4_640 + 9_248) + (18_496 + 36_928) + (27_680 + 9_248) + (6_928 + 2_320) + 51,
    ),
}


def _abstract(make):
    """The model with shapes only (`nnx.eval_shape`): counting and shape checks compile nothing."""
    return nnx.eval_shape(lambda: make(nnx.Rngs(0)))


def _shape_of(fn, *args):
    """Output shape without compiling: NNX's abstract evaluation."""
    return nnx.eval_shape(fn, *args).shape


@pytest.mark.parametrize("name", list(CASES))
def test_output_shape_and_parameter_count(name):
    make, in_shape, out_shape, count = CASES[name]
    model = _abstract(make)
    x = jax.ShapeDtypeStruct(in_shape, jnp.float32)
    assert _shape_of(lambda m, x: m(x), model, x) == out_shape
    assert nn.count_params(model) == count


@pytest.mark.parametrize(
    "model_cls,latent_shape",
    [
        (models.ConvAutoencoder, (3, 4, 4, 8)),
        (models.StridedAutoencoder, (3, 2)),
        (models.DenoisingAutoencoder, (3, 4, 4, 8)),
        (models.LeNetAutoencoder, (3, 10)),
        (models.ImprovedLeNetAutoencoder, (3, 80)),
        (models.WideLeNetAutoencoder, (3, 10)),
    ],
)
def test_autoencoder_encode_decode_shapes(model_cls, latent_shape):
    model = _abstract(lambda r: model_cls(rngs=r))
    z = _shape_of(lambda m, x: m.encode(x), model, jax.ShapeDtypeStruct(MNIST, jnp.float32))
    assert z == latent_shape
    assert _shape_of(lambda m, z: m.decode(z), model, jax.ShapeDtypeStruct(z, jnp.float32)) == MNIST


def test_lenet_autoencoder_latent_dim_option():
    model = _abstract(lambda r: models.LeNetAutoencoder(3, rngs=r))
    assert _shape_of(lambda m, x: m.encode(x), model, jax.ShapeDtypeStruct(MNIST, jnp.float32)) == (3, 3)


# Keras Sequentials of the same networks: their count_params() and our count agree.
KERAS_COUNTS = [
    ("MnistCNN", lambda: [km.mnist_cnn()]),
    ("OneConvCNN", lambda: [km.one_conv_cnn()]),
    ("LeNet5", lambda: [km.lenet5()]),
    ("LeNet5Improved", lambda: [km.lenet5_improved()]),
    ("NoiseToDigit", lambda: [km.noise_to_digit()]),
    ("CifarCNN", lambda: [km.cifar_cnn(False)]),
    ("CifarCNN-bn", lambda: [km.cifar_cnn(True)]),
    ("ConvAutoencoder", lambda: list(km.conv_autoencoder())),
    ("StridedAutoencoder", lambda: list(km.strided_autoencoder())),
    ("DenoisingAutoencoder", lambda: list(km.denoising_autoencoder())),
    ("LeNetAutoencoder", lambda: list(km.lenet_autoencoder())),
]


@pytest.mark.parametrize("name,make_keras", KERAS_COUNTS, ids=[c[0] for c in KERAS_COUNTS])
def test_parameter_count_matches_keras(name, make_keras):
    with keras_numerics():
        keras_parts = make_keras()
    model = _abstract(CASES[name][0])
    ours = [model] if len(keras_parts) == 1 else [model.encoder, model.decoder]
    assert [nn.count_params(m) for m in ours] == [k.count_params() for k in keras_parts]


def test_conv_autoencoder_counts_from_the_tutorial():
    model = _abstract(lambda r: models.ConvAutoencoder(rngs=r))
    assert (nn.count_params(model.encoder), nn.count_params(model.decoder)) == (1_904, 2_481)


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


@nnx.jit
def _forward(model, x):
    return model(x)


@pytest.mark.parametrize(
    "name,make_keras",
    [
        ("MnistCNN", lambda: [km.mnist_cnn()]),
        ("MnistCNN-relu", lambda: [km.mnist_cnn("relu")]),
        ("OneConvCNN", lambda: [km.one_conv_cnn()]),
        ("LeNet5", lambda: [km.lenet5()]),
        ("ConvAutoencoder", lambda: list(km.conv_autoencoder())),
        ("StridedAutoencoder", lambda: list(km.strided_autoencoder())),
        ("DenoisingAutoencoder", lambda: list(km.denoising_autoencoder())),
    ],
)
def test_forward_matches_keras_with_the_same_weights(name, make_keras):
    make, in_shape, _, _ = CASES[name]
    # Glorot kernels, random biases: random kernels of a fixed scale blow the activations of
    # the deeper networks up to where float32 summation order shows.
    model = randomize(make(nnx.Rngs(0)), scale=None)
    with keras_numerics():
        keras_parts = make_keras()
    ours = [model] if len(keras_parts) == 1 else [model.encoder, model.decoder]
    for part, keras_part in zip(ours, keras_parts, strict=True):
        with keras_numerics():
            keras_part.set_weights(km.weight_list(part))
    x = _images(in_shape)
    expected = x
    for keras_part in keras_parts:
        expected = keras_call(keras_part, expected)
    assert_close(_forward(model, jnp.asarray(x)), expected)


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "bn"])
def test_cifar_cnn_matches_keras_in_eval_mode(batch_norm):
    model = randomize(models.CifarCNN(batch_norm, rngs=nnx.Rngs(0)), scale=None)
    with keras_numerics():
        oracle = km.cifar_cnn(batch_norm)
        oracle.set_weights(km.weight_list(model))
    model.eval()
    x = _images((2, 32, 32, 3))
    assert_close(_forward(model, jnp.asarray(x)), keras_call(oracle, x, training=False))


# The models whose relu (or linear) convolution feeds a max pooling that pads nothing hold the
# pair as one `nn.Conv2DMaxPool` (bias and activation on the pooled map); the rest keep plain layers.
FUSED = [
    ("MnistCNN", ["layers.1", "layers.2"]),  # layers.0: the seed's Reshape
    ("MnistCNN-relu", ["layers.1", "layers.2"]),
    ("OneConvCNN", []),  # average pooling
    ("CifarCNN", ["layers.1", "layers.4"]),
    ("CifarCNN-bn", []),  # BatchNormalized convolutions: no Conv2D with a relu of its own
    ("ConvAutoencoder", ["encoder.0", "encoder.1"]),  # the third pooling pads 7 -> 4
    ("DenoisingAutoencoder", ["encoder.0", "encoder.1"]),
    ("LeNet5", []),
    ("WideLeNetAutoencoder", []),
]


@pytest.mark.parametrize("name,fused", FUSED, ids=[c[0] for c in FUSED])
def test_conv_max_pool_pairs_are_conv2d_max_pool_layers(name, fused):
    model = _abstract(CASES[name][0])
    paths = [p for p, _ in nn.named_layers(model)]
    pairs = sorted({p.rsplit(".", 1)[0] for p in paths if p.endswith((".conv", ".pool"))})
    assert pairs == fused
    for p in fused:
        assert paths.index(f"{p}.pool") == paths.index(f"{p}.conv") + 1


@pytest.mark.parametrize(
    "make,relu_shapes",
    [
        (lambda r: models.MnistCNN(activation="relu", rngs=r), [(2, 14, 14, 32), (2, 7, 7, 16)]),
        (lambda r: models.MnistCNN(rngs=r), []),  # seed 004's: no activation at all
        (lambda r: models.DenoisingAutoencoder(rngs=r).encoder, [(2, 13, 13, 16), (2, 6, 6, 8), (2, 4, 4, 8)]),
        # the third pooling pads (7 -> 4): its relu runs on the 7x7 map, before pooling
        (lambda r: models.ConvAutoencoder(rngs=r).encoder, [(2, 14, 14, 16), (2, 7, 7, 8), (2, 7, 7, 8)]),
    ],
    ids=["MnistCNN-relu", "MnistCNN", "DenoisingAutoencoder", "ConvAutoencoder"],
)
def test_relu_runs_on_the_pooled_maps(make, relu_shapes):
    """The speed the fused layers are for: bias and relu at a quarter of the convolution's pixels."""
    model = make(nnx.Rngs(0))
    jaxpr = jax.make_jaxpr(lambda x: model(x))(jnp.zeros((2, 28, 28, 1), jnp.float32))
    assert _relu_on(jaxpr.jaxpr) == relu_shapes


def _bias_adds(jaxpr) -> list[tuple]:
    """Shapes of the 4-D maps that `add` a per-channel `(1, 1, 1, C)` bias to, in every nested jaxpr."""
    shapes = []
    for eqn in jaxpr.eqns:
        a, b = (v.aval.shape for v in eqn.invars[:2]) if len(eqn.invars) >= 2 else ((), ())
        if eqn.primitive.name == "add" and len(a) == 4 and b[:3] == (1, 1, 1):
            shapes.append(tuple(a))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            shapes += _bias_adds(sub)
    return shapes


def test_linear_mnist_cnn_adds_its_biases_on_the_pooled_maps():
    """The fused fast path holds for seed 004's linear convolutions: the bias goes on after pooling."""
    model = models.MnistCNN(rngs=nnx.Rngs(0))
    jaxpr = jax.make_jaxpr(lambda x: model(x))(jnp.zeros((2, 28, 28), jnp.float32))
    assert _bias_adds(jaxpr.jaxpr) == [(2, 14, 14, 32), (2, 7, 7, 16)]


def test_mnist_cnn_takes_the_seeds_unchanneled_digits_and_names_bad_options():
    model = models.MnistCNN(rngs=nnx.Rngs(0))
    x = _images((3, 28, 28))
    np.testing.assert_array_equal(_forward(model, jnp.asarray(x)), _forward(model, jnp.asarray(x[..., None])))
    with pytest.raises(ValueError, match=r"MnistCNN: activation must be None .* or 'relu' .*, got 'tanh'"):
        models.MnistCNN(activation="tanh", rngs=nnx.Rngs(0))
    with pytest.raises(
        ValueError, match=r"Reshape: x must be \(N, ...\) with 784 values per example .* got \(3, 27, 28\)"
    ):
        model(jnp.zeros((3, 27, 28)))


def test_probabilities_are_softmax_of_logits():
    model = models.MnistCNN(rngs=nnx.Rngs(0))
    x = jnp.asarray(_images(MNIST))
    p = nnx.jit(lambda m, x: m.probabilities(x))(model, x)
    assert_close(p, jax.nn.softmax(_forward(model, x)))
    assert_close(jnp.sum(p, axis=-1), np.ones(3))


def test_dropout_and_batch_norm_follow_train_and_eval():
    """Training mode is random (dropout) and moves the statistics; eval mode is a fixed function."""
    model = models.CifarCNN(True, rngs=nnx.Rngs(0))
    x = jnp.asarray(_images((4, 32, 32, 3)))
    bn = next(m for m in nn.layers_in_order(model) if isinstance(m, nn.BatchNorm))
    mean0 = np.asarray(bn.mean[...])
    model.train()
    a, b = _forward(model, x), _forward(model, x)
    assert not np.allclose(a, b)
    assert not np.allclose(bn.mean[...], mean0)
    model.eval()
    mean1 = np.asarray(bn.mean[...])
    np.testing.assert_array_equal(_forward(model, x), _forward(model, x))
    np.testing.assert_array_equal(bn.mean[...], mean1)


def test_segmenter_with_and_without_skips():
    x = jax.ShapeDtypeStruct((2, 32, 16, 3), jnp.float32)
    with_skips = _abstract(lambda r: models.Segmenter(4, in_channels=3, width=8, rngs=r))
    without = _abstract(lambda r: models.Segmenter(4, in_channels=3, width=8, skips=False, rngs=r))
    for m in (with_skips, without):
        assert _shape_of(lambda m, x: m(x), m, x) == (2, 32, 16, 4)
    # The skip concatenations widen the decoder's first convolutions by 2w and w input channels.
    assert nn.count_params(with_skips) - nn.count_params(without) == 9 * (16 * 16 + 8 * 8)
    with pytest.raises(ValueError, match=r"Segmenter: x must be \(N, H, W, C\) with H and W multiples of 4"):
        _shape_of(lambda m, x: m(x), with_skips, jax.ShapeDtypeStruct((1, 30, 16, 3), jnp.float32))


def test_noise_to_digit_outputs_images_in_unit_interval():
    model = models.NoiseToDigit(16, rngs=nnx.Rngs(0))
    model.eval()
    z = model.sample_noise(jax.random.key(0), 5)
    assert z.shape == (5, 16)
    y = np.asarray(_forward(model, z))
    assert y.shape == (5, 28, 28, 1) and y.min() > 0 and y.max() < 1


def test_mnist_cnn_variant_is_recorded_and_rebuilt():
    """A kept run rebuilds the network it trained: seed 004's linear one or cnnlab's ReLU variant."""
    for activation in (None, "relu"):
        spec = models.spec(_abstract(lambda r, a=activation: models.MnistCNN(activation=a, rngs=r)))
        assert spec == {"class": "MnistCNN", "args": {"activation": activation, "num_classes": 10, "in_channels": 1}}
        conv = models.build(spec).layers[1].conv
        assert conv.activation is (nn.linear if activation is None else nn.ACTIVATIONS["relu"])
