"""Seed 001's worked examples of convolution and transposed convolution, by hand and against Keras 3.

Seed 001 (KAIST, "Convolutional Autoencoder", sections 1 and 2) states the shapes of four small
cases; each is checked here on values, not only shapes: every output pixel by hand, and the same
layer in Keras 3 with the same kernel.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax.numpy as jnp
import keras
import numpy as np
import pytest

from cnnlab import ops

X4 = np.arange(16.0, dtype=np.float32).reshape(1, 4, 4, 1)
X5 = np.arange(25.0, dtype=np.float32).reshape(1, 5, 5, 1)
K3 = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, -1.0, 3.0]], np.float32)


def _keras(layer_cls, x, kernel, **kw):
    layer = layer_cls(1, 3, use_bias=False, **kw)
    layer.build(x.shape)
    layer.set_weights([kernel.reshape(3, 3, 1, 1)])
    return np.asarray(layer(x))


def test_valid_3x3_on_4x4_gives_2x2_by_hand_and_as_keras():
    # Section 1, first example: input [None, 4, 4, 1], filter [3, 3, 1, 1], stride 1, VALID.
    y = np.asarray(ops.conv2d(jnp.asarray(X4), jnp.asarray(K3.reshape(3, 3, 1, 1))))
    hand = [[np.sum(X4[0, r : r + 3, c : c + 3, 0] * K3) for c in range(2)] for r in range(2)]
    assert y.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(y[0, :, :, 0], hand, rtol=1e-6)
    np.testing.assert_allclose(y, _keras(keras.layers.Conv2D, X4, K3, padding="valid"), rtol=1e-6)


def test_same_3x3_on_5x5_keeps_5x5_by_hand_and_as_keras():
    # Section 1, second example: input [None, 5, 5, 1], SAME: one ring of zeros around the image.
    y = np.asarray(ops.conv2d(jnp.asarray(X5), jnp.asarray(K3.reshape(3, 3, 1, 1)), padding="SAME"))
    padded = np.pad(X5[0, :, :, 0], 1)
    hand = [[np.sum(padded[r : r + 3, c : c + 3] * K3) for c in range(5)] for r in range(5)]
    assert y.shape == (1, 5, 5, 1)
    np.testing.assert_allclose(y[0, :, :, 0], hand, rtol=1e-6)
    np.testing.assert_allclose(y, _keras(keras.layers.Conv2D, X5, K3, padding="same"), rtol=1e-6)


def test_stride_2_valid_3x3_takes_5x5_to_2x2():
    # Section 2: "An image of 5x5 ... stride 2, the padding is deactivated and the kernel is 3x3.
    # This results in a 2x2 image."
    y = np.asarray(ops.conv2d(jnp.asarray(X5), jnp.asarray(K3.reshape(3, 3, 1, 1)), stride=2))
    hand = [[np.sum(X5[0, r : r + 3, c : c + 3, 0] * K3) for c in (0, 2)] for r in (0, 2)]
    np.testing.assert_allclose(y[0, :, :, 0], hand, rtol=1e-6)


@pytest.mark.parametrize("stride, side", [(2, 5), (1, 4)])
def test_transposed_3x3_scatters_each_pixel_back_to_the_larger_image(stride, side):
    # Section 2: the transposed convolution with stride 2, no padding, kernel 3 takes the 2x2 image
    # back to 5x5 ("guarantees that the output will be a 5x5 image as well"); with no stride, 2x2 -> 4x4.
    x = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32).reshape(1, 2, 2, 1)
    y = np.asarray(ops.conv2d_transpose(jnp.asarray(x), jnp.asarray(K3.reshape(3, 3, 1, 1)), stride=stride))
    hand = np.zeros((side, side), np.float32)
    for r in range(2):  # each input pixel stamps value * kernel at (stride*r, stride*c)
        for c in range(2):
            hand[stride * r : stride * r + 3, stride * c : stride * c + 3] += x[0, r, c, 0] * K3
    assert y.shape == (1, side, side, 1)
    np.testing.assert_allclose(y[0, :, :, 0], hand, rtol=1e-6)
    keras_y = _keras(keras.layers.Conv2DTranspose, x, K3, strides=stride, padding="valid")
    np.testing.assert_allclose(y, keras_y, rtol=1e-6)
