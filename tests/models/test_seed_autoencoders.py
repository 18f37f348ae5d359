"""The seeds' autoencoders as the seeds wrote them, against the seeds' own frameworks.

- `StridedAutoencoder` is seed 001's Keras model (section 4.3): the seed's encoder and decoder
  `Sequential`s, written out here layer for layer in Keras 3, hold our weights and give our
  outputs. Its last `Conv2DTranspose` has no activation; ``output_activation="sigmoid"`` is
  cnnlab's named variant, and a saved spec rebuilds it.
- `LeNetAutoencoder` (seed 003 Q13: LeNet-5 of Q10 as the encoder, the Q13 decoder) and
  `ImprovedLeNetAutoencoder` (seed 003 Q16) are the seed's PyTorch `nn.Sequential`s: the
  parameter count of every layer, and the outputs with PyTorch's weights copied in.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pytest
import torch
from flax import nnx
from torch import nn as tnn

from cnnlab import models, nn
from cnnlab.interop.torch import load_state_dict
from tests.nn.keras_oracle import keras_call, keras_numerics, randomize
from tests.tolerances import assert_close


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 28, 28, 1)).astype(np.float32)


# -- seed 001: Keras ------------------------------------------------------------------------


def _seed_001_keras(output_activation=None):
    """Seed 001 In [6]-[9]: its encoder and decoder `Sequential`s (Keras 3 takes `keras.Input` for `input_shape`)."""
    import keras
    from keras import layers as L

    encoder = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(filters=32, kernel_size=(3, 3), strides=(2, 2), activation="relu", padding="SAME"),
        L.Conv2D(filters=64, kernel_size=(3, 3), strides=(2, 2), activation="relu", padding="SAME"),
        L.Conv2D(filters=2, kernel_size=(7, 7), padding="VALID"),
    ])  # fmt: skip
    decoder = keras.Sequential([
        keras.Input((1, 1, 2)),
        L.Conv2DTranspose(filters=64, kernel_size=(7, 7), strides=(1, 1), activation="relu", padding="VALID"),
        L.Conv2DTranspose(filters=32, kernel_size=(3, 3), strides=(2, 2), activation="relu", padding="SAME"),
        # The seed's last layer: no activation. The variant adds the sigmoid here.
        L.Conv2DTranspose(filters=1, kernel_size=(7, 7), strides=(2, 2), padding="SAME", activation=output_activation),
    ])  # fmt: skip
    return encoder, decoder


def _weights(module):
    return [
        np.asarray(getattr(m, n)[...]) for m in nn.layers_in_order(module) for n in ("kernel", "bias") if hasattr(m, n)
    ]


@pytest.mark.parametrize("output_activation", [None, "sigmoid"], ids=["seed-linear", "sigmoid-variant"])
def test_strided_autoencoder_is_seed_001s_keras_model(output_activation):
    model = randomize(models.StridedAutoencoder(output_activation=output_activation, rngs=nnx.Rngs(0)), scale=None)
    with keras_numerics():
        encoder, decoder = _seed_001_keras(output_activation)
        encoder.set_weights(_weights(model.encoder))
        decoder.set_weights(_weights(model.decoder))
    x = _images()
    latent = keras_call(encoder, x)
    assert latent.shape == (3, 1, 1, 2)
    expected = keras_call(decoder, latent)
    assert_close(nnx.jit(lambda m, x: m.encode(x))(model, x), latent.reshape(3, 2))
    ours = np.asarray(nnx.jit(lambda m, x: m(x))(model, x))
    assert_close(ours, expected)
    if output_activation is None:
        assert ours.min() < 0 or ours.max() > 1  # linear: nothing bounds it to [0, 1]
    assert [nn.count_params(model.encoder), nn.count_params(model.decoder)] == [
        encoder.count_params(),
        decoder.count_params(),
    ]


def test_strided_autoencoders_sigmoid_variant_is_kept_in_its_spec():
    variant = models.StridedAutoencoder(output_activation="sigmoid", rngs=nnx.Rngs(0))
    spec = models.spec(variant)
    assert spec == {"class": "StridedAutoencoder", "args": {"output_activation": "sigmoid"}}
    rebuilt = models.build(spec, rngs=nnx.Rngs(0))
    z = np.linspace(-20, 20, 10, dtype=np.float32).reshape(5, 2)
    out = np.asarray(rebuilt.decode(z))
    assert out.min() > 0 and out.max() < 1
    np.testing.assert_array_equal(out, np.asarray(variant.decode(z)))
    assert models.spec(models.StridedAutoencoder(rngs=nnx.Rngs(0)))["args"] == {"output_activation": None}


# -- seed 003: PyTorch ----------------------------------------------------------------------


def _lenet5_encoder():
    """Seed 003 Q10's LeNet-5, which Part 3 takes as the encoder (``encoder = model``)."""
    return tnn.Sequential(
        tnn.Conv2d(1, 6, kernel_size=5, padding="same"), tnn.Tanh(), tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Conv2d(6, 16, kernel_size=5, padding="valid"), tnn.Tanh(), tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Flatten(), tnn.Linear(16 * 5 * 5, 120), tnn.Tanh(), tnn.Linear(120, 84), tnn.Tanh(), tnn.Linear(84, 10),
    )  # fmt: skip


def _q13_decoder():
    return tnn.Sequential(
        tnn.Linear(10, 84), tnn.Tanh(), tnn.Linear(84, 120), tnn.Tanh(), tnn.Linear(120, 400), tnn.Tanh(),
        tnn.Unflatten(1, (16, 5, 5)),
        tnn.Upsample(scale_factor=2, mode="nearest"), tnn.ConvTranspose2d(16, 6, kernel_size=5, padding=0), tnn.Tanh(),
        tnn.Upsample(scale_factor=2, mode="nearest"), tnn.ConvTranspose2d(6, 1, kernel_size=5, padding=2),
    )  # fmt: skip


def _q16_encoder():
    return tnn.Sequential(
        tnn.Conv2d(1, 16, kernel_size=3, padding="same"), tnn.Tanh(),
        tnn.Conv2d(16, 16, kernel_size=3, padding="same"), tnn.Tanh(), tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Conv2d(16, 16, kernel_size=5, padding="valid"), tnn.Tanh(),
        tnn.Conv2d(16, 16, kernel_size=3, padding="same"), tnn.Tanh(), tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Flatten(), tnn.Linear(16 * 5 * 5, 160), tnn.Tanh(), tnn.Linear(160, 120), tnn.Tanh(), tnn.Linear(120, 80),
    )  # fmt: skip


def _q16_decoder():
    return tnn.Sequential(
        tnn.Linear(80, 120), tnn.Tanh(), tnn.Linear(120, 160), tnn.Tanh(), tnn.Linear(160, 16 * 5 * 5), tnn.Tanh(),
        tnn.Unflatten(1, (16, 5, 5)), tnn.Upsample(scale_factor=2, mode="nearest"),
        tnn.ConvTranspose2d(16, 16, kernel_size=3, padding=1), tnn.Tanh(),
        tnn.ConvTranspose2d(16, 16, kernel_size=5, padding=0), tnn.Tanh(),
        tnn.Upsample(scale_factor=2, mode="nearest"),
        tnn.ConvTranspose2d(16, 16, kernel_size=3, padding=1), tnn.Tanh(),
        tnn.ConvTranspose2d(16, 1, kernel_size=3, padding=1),
    )  # fmt: skip


class _Autoencoder(tnn.Module):
    """Seed 003's ``Autoencoder(encoder, decoder)``."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x):
        return self.decoder(self.encoder(x))


SEED_003 = [
    ("LeNetAutoencoder (Q13)", lambda r: models.LeNetAutoencoder(rngs=r), _lenet5_encoder, _q13_decoder),
    ("ImprovedLeNetAutoencoder (Q16)", lambda r: models.ImprovedLeNetAutoencoder(rngs=r), _q16_encoder, _q16_decoder),
]


def _counts(module) -> list[int]:
    """Parameters per layer that has any, in order: PyTorch modules or our `nn` layers."""
    if isinstance(module, tnn.Module):
        return [sum(p.numel() for p in m.parameters()) for m in module if any(True for _ in m.parameters())]
    return [nn.count_params(m) for m in nn.layers_in_order(module) if nn.count_params(m)]


@pytest.mark.parametrize("name,make,torch_encoder,torch_decoder", SEED_003, ids=[c[0] for c in SEED_003])
def test_lenet_autoencoders_are_seed_003s_pytorch_models(name, make, torch_encoder, torch_decoder):
    torch.manual_seed(0)
    theirs = _Autoencoder(torch_encoder(), torch_decoder()).eval()
    model = make(nnx.Rngs(0))
    for ours, their in ((model.encoder, theirs.encoder), (model.decoder, theirs.decoder)):
        assert _counts(ours) == _counts(their)
    load_state_dict(model, theirs.state_dict())  # checks every weight's shape against PyTorch's
    x = _images(4)
    with torch.no_grad():
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2))
        code, expected = theirs.encoder(xt).numpy(), theirs(xt).numpy().transpose(0, 2, 3, 1)
    assert_close(nnx.jit(lambda m, x: m.encode(x))(model, x), code)
    ours = np.asarray(nnx.jit(lambda m, x: m(x))(model, x))
    assert ours.shape == expected.shape == (4, 28, 28, 1)
    assert_close(ours, expected)
