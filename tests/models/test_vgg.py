"""`VGGEncoder` and `TransferSegmenter` against Keras: the layer names of keras.applications' VGGs,
their ``preprocess_input``, and seed 002's segmentation network written in Keras with our weights."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import nn
from cnnlab.interop.keras import load_weights
from cnnlab.models import build, spec
from cnnlab.models.vgg import TransferSegmenter, VGGEncoder, vgg_layer_names

keras = pytest.importorskip("keras")


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_layer_names_are_keras_applications(arch):
    from keras import applications

    theirs = getattr(applications, arch.upper())(weights=None, include_top=False)
    assert vgg_layer_names(arch) == tuple(layer.name for layer in theirs.layers[1:])
    ours = VGGEncoder(arch, up_to="block5_pool", rngs=nnx.Rngs(0))
    assert nn.count_params(ours) == theirs.count_params()


def test_cut_at_block5_conv2_shapes_and_bad_names():
    enc = VGGEncoder("vgg19", up_to="block5_conv2", width=4, rngs=nnx.Rngs(0))
    assert enc.layer_names[-1] == "block5_conv2" and len(enc.layer_names) == 14 + 4
    assert enc.downsampling == 16 and enc.blocks == 5 and enc.out_channels == 32
    assert enc(jnp.zeros((2, 32, 48, 3))).shape == (2, 2, 3, 32)
    with pytest.raises(ValueError, match=r"vgg16 has no layer 'block5_conv4'; its layers are block1_conv1, "):
        VGGEncoder("vgg16", up_to="block5_conv4", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"arch must be one of \['vgg16', 'vgg19'\]; got 'vgg11'"):
        VGGEncoder("vgg11", rngs=nnx.Rngs(0))
    with pytest.raises(
        ValueError, match=r"x must be \(N, H, W, 3\) with H and W multiples of 16; got \(1, 40, 32, 3\)"
    ):
        enc(jnp.zeros((1, 40, 32, 3)))
    with pytest.raises(ValueError, match="width must be a positive int"):
        VGGEncoder(width=0, rngs=nnx.Rngs(0))


def test_preprocess_is_keras_preprocess_input():
    from keras.applications import vgg16

    rgb = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    enc = VGGEncoder("vgg16", up_to="block1_conv1", preprocess=True, rngs=nnx.Rngs(0))
    plain = VGGEncoder("vgg16", up_to="block1_conv1", rngs=nnx.Rngs(0))
    caffe = np.asarray(vgg16.preprocess_input(rgb * 255.0))
    np.testing.assert_allclose(np.asarray(enc(rgb)), np.asarray(plain(caffe)), rtol=1e-5, atol=1e-4)


def _seed_002_keras(up_to="block5_conv2"):
    """Seed 002's network in Keras: VGG19 cut at 'block5_conv2' and its decoder, but with block 5's
    inverse not upsampling (the seed's five upsamplings after four poolings double the mask's size)."""
    from keras import layers as L

    vgg = keras.applications.VGG19(weights=None, include_top=False)
    x = vgg.get_layer(up_to).output
    x = L.Conv2DTranspose(256, (3, 3), activation="relu", padding="same")(x)
    for filters in (128, 128, 64, 32):
        x = L.UpSampling2D((2, 2))(x)
        x = L.Conv2DTranspose(filters, (3, 3), activation="relu", padding="same")(x)
    x = L.Conv2DTranspose(16, (3, 3), activation="relu", padding="same")(x)
    x = L.Conv2DTranspose(1, (1, 1), activation="sigmoid", padding="same")(x)
    return keras.Model(vgg.input, x)


def test_transfer_segmenter_is_seed_002_network_in_keras():
    theirs = _seed_002_keras()
    ours = TransferSegmenter("vgg19", up_to="block5_conv2", rngs=nnx.Rngs(0))
    assert nn.count_params(ours) == theirs.count_params()
    load_weights(ours, theirs)
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    want = theirs.predict(x, verbose=0)  # compiled: much faster than op by op
    got = np.asarray(nnx.jit(lambda m, v: m(v))(ours, x))
    assert got.shape == want.shape == (2, 32, 32, 1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_grey_inputs_are_repeated_to_rgb_and_widths_scale():
    small = TransferSegmenter("vgg16", up_to="block4_pool", width=8, in_channels=1, rngs=nnx.Rngs(0))
    grey = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 1)).astype(np.float32)
    out = np.asarray(small(grey))
    assert out.shape == (2, 32, 32, 1) and (out > 0).all() and (out < 1).all()
    np.testing.assert_array_equal(out, np.asarray(small.decoder(small.encoder(np.repeat(grey, 3, -1)))))
    # block 4 pooled: its inverse upsamples too (4 upsamplings), from 8 * 8 = 64 channels down to 2, then 1
    ups = [m for m in small.decoder if isinstance(m, nn.UpSampling2D)]
    convs = [m for m in small.decoder if isinstance(m, nn.Conv2DTranspose)]
    assert len(ups) == 4 and [c.kernel.shape[2] for c in convs] == [16, 16, 8, 4, 2, 1]
    with pytest.raises(ValueError, match=r"x must be \(N, H, W, 1\); got \(2, 32, 32, 3\)"):
        small(jnp.zeros((2, 32, 32, 3)))
    with pytest.raises(ValueError, match="width must be a positive multiple of 4"):
        TransferSegmenter(width=6, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="in_channels must be 1 .* or 3"):
        TransferSegmenter(in_channels=2, rngs=nnx.Rngs(0))


def test_a_kept_model_rebuilds_from_its_spec():
    model = TransferSegmenter("vgg19", width=4, in_channels=1, preprocess=True, rngs=nnx.Rngs(0))
    s = spec(model)
    assert s == {
        "class": "TransferSegmenter",
        "args": {"arch": "vgg19", "up_to": "block5_conv2", "width": 4, "in_channels": 1, "preprocess": True},
    }
    again = build(s)
    assert nn.count_params(again) == nn.count_params(model) and again.encoder.preprocess
