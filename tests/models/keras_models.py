"""The models of `cnnlab.models` written as Keras 3 `Sequential`s, layer by layer, as the studies wrote them.

They are the oracles for parameter counts and, holding our weights, for forward passes.
Kernels start at zeros (Keras's random initializers compile for seconds per shape);
`set_weights` then gives them ours.
"""

import keras
import numpy as np
from keras import layers as L

from cnnlab import nn

Z = dict(kernel_initializer="zeros")


def sequential(input_shape, *layers):
    return keras.Sequential([keras.Input(input_shape), *layers])


def mnist_cnn(activation=None):
    """Seed 004's network (its Dense's softmax left off: logits); ``activation="relu"``: cnnlab's variant."""
    return sequential(
        (28, 28, 1),
        L.Reshape((28, 28, 1)),
        L.Conv2D(32, 3, padding="same", activation=activation, **Z), L.MaxPooling2D(2),
        L.Conv2D(16, 3, padding="same", activation=activation, **Z), L.MaxPooling2D(2),
        L.Flatten(), L.Dense(10, **Z),
    )  # fmt: skip


def one_conv_cnn():
    """Seed 003's single-convolution CNN, in Keras: conv 5x5 6 SAME tanh, average pool 2, Dense 10."""
    return sequential(
        (28, 28, 1),
        L.Conv2D(6, 5, padding="same", activation="tanh", **Z), L.AveragePooling2D(2),
        L.Flatten(), L.Dense(10, **Z),
    )  # fmt: skip


def lenet5():
    return sequential(
        (28, 28, 1),
        L.Conv2D(6, 5, padding="same", activation="tanh", **Z), L.AveragePooling2D(2),
        L.Conv2D(16, 5, activation="tanh", **Z), L.AveragePooling2D(2),
        L.Flatten(),
        L.Dense(120, activation="tanh", **Z), L.Dense(84, activation="tanh", **Z), L.Dense(10, **Z),
    )  # fmt: skip


def cifar_cnn(batch_norm: bool):
    def hidden(layer_cls, *args, **kw):
        if batch_norm:
            return [layer_cls(*args, **kw, **Z), L.BatchNormalization(), L.Activation("relu")]
        return [layer_cls(*args, **kw, activation="relu", **Z)]

    return sequential(
        (32, 32, 3),
        *hidden(L.Conv2D, 32, 3, padding="same"), *hidden(L.Conv2D, 32, 3),
        L.MaxPooling2D(2), L.Dropout(0.25),
        *hidden(L.Conv2D, 64, 3, padding="same"), *hidden(L.Conv2D, 64, 3),
        L.MaxPooling2D(2), L.Dropout(0.25),
        L.Flatten(), *hidden(L.Dense, 512), L.Dropout(0.5), L.Dense(10, **Z),
    )  # fmt: skip


def conv_autoencoder():
    """(encoder, decoder) of the Keras blog's convolutional autoencoder."""
    encoder = sequential(
        (28, 28, 1),
        L.Conv2D(16, 3, activation="relu", padding="same", **Z), L.MaxPooling2D(2, padding="same"),
        L.Conv2D(8, 3, activation="relu", padding="same", **Z), L.MaxPooling2D(2, padding="same"),
        L.Conv2D(8, 3, activation="relu", padding="same", **Z), L.MaxPooling2D(2, padding="same"),
    )  # fmt: skip
    decoder = sequential(
        (4, 4, 8),
        L.Conv2D(8, 3, activation="relu", padding="same", **Z), L.UpSampling2D(2),
        L.Conv2D(8, 3, activation="relu", padding="same", **Z), L.UpSampling2D(2),
        L.Conv2D(16, 3, activation="relu", **Z), L.UpSampling2D(2),
        L.Conv2D(1, 3, activation="sigmoid", padding="same", **Z),
    )  # fmt: skip
    return encoder, decoder


def strided_autoencoder(output_activation=None):
    """Seed 001's strided autoencoder: its last Conv2DTranspose is linear (``output_activation``: cnnlab's variant)."""
    encoder = sequential(
        (28, 28, 1),
        L.Conv2D(32, 3, strides=2, padding="same", activation="relu", **Z),
        L.Conv2D(64, 3, strides=2, padding="same", activation="relu", **Z),
        L.Conv2D(2, 7, **Z), L.Flatten(),
    )  # fmt: skip
    decoder = sequential(
        (2,),
        L.Reshape((1, 1, 2)),
        L.Conv2DTranspose(64, 7, activation="relu", **Z),
        L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", **Z),
        L.Conv2DTranspose(1, 7, strides=2, padding="same", activation=output_activation, **Z),
    )
    return encoder, decoder


def denoising_autoencoder():
    encoder = sequential(
        (28, 28, 1),
        L.Conv2D(16, 3, activation="relu", **Z), L.MaxPooling2D(2),
        L.Conv2D(8, 2, activation="relu", **Z), L.MaxPooling2D(2),
        L.Conv2D(8, 3, activation="relu", **Z),
    )  # fmt: skip
    decoder = sequential(
        (4, 4, 8),
        L.Conv2DTranspose(8, 3, activation="relu", **Z), L.UpSampling2D(2),
        L.Conv2DTranspose(8, 2, activation="relu", **Z), L.UpSampling2D(2),
        L.Conv2DTranspose(1, 3, activation="relu", **Z),
    )  # fmt: skip
    return encoder, decoder


def lenet_autoencoder(latent_dim=10):
    encoder = sequential(
        (28, 28, 1),
        L.Conv2D(6, 5, padding="same", activation="tanh", **Z), L.AveragePooling2D(2),
        L.Conv2D(16, 5, activation="tanh", **Z), L.AveragePooling2D(2), L.Flatten(),
        L.Dense(120, activation="tanh", **Z), L.Dense(84, activation="tanh", **Z), L.Dense(latent_dim, **Z),
    )  # fmt: skip
    decoder = sequential(
        (latent_dim,),
        L.Dense(84, activation="tanh", **Z), L.Dense(120, activation="tanh", **Z),
        L.Dense(400, activation="tanh", **Z), L.Reshape((5, 5, 16)),
        L.UpSampling2D(2), L.Conv2DTranspose(6, 5, activation="tanh", **Z),
        L.UpSampling2D(2), L.Conv2DTranspose(1, 5, padding="same", **Z),  # linear, as seed 003's
    )  # fmt: skip
    return encoder, decoder


def noise_to_digit(noise_dim=100):
    """NoiseToDigit in Keras: Dense/BN/ReLU, Reshape, two Conv2DTranspose/BN/ReLU, Conv2D sigmoid."""
    return sequential(
        (noise_dim,),
        L.Dense(7 * 7 * 64, **Z), L.BatchNormalization(), L.Activation("relu"), L.Reshape((7, 7, 64)),
        L.Conv2DTranspose(64, 3, strides=2, padding="same", **Z), L.BatchNormalization(), L.Activation("relu"),
        L.Conv2DTranspose(32, 3, strides=2, padding="same", **Z), L.BatchNormalization(), L.Activation("relu"),
        L.Conv2D(1, 3, padding="same", activation="sigmoid", **Z),
    )  # fmt: skip


def lenet5_improved():
    def block(filters, kernel, **kw):
        return [L.Conv2D(filters, kernel, **kw, **Z), L.BatchNormalization(), L.Activation("relu")]

    return sequential(
        (28, 28, 1),
        *block(32, 3), *block(32, 3), *block(32, 5, strides=2, padding="same"), L.Dropout(0.4),
        *block(64, 3), *block(64, 3), *block(64, 5, strides=2, padding="same"), L.Dropout(0.4),
        L.Flatten(), L.Dense(128, **Z), L.BatchNormalization(), L.Activation("relu"), L.Dropout(0.4),
        L.Dense(10, **Z),
    )  # fmt: skip


def weight_list(module) -> list[np.ndarray]:
    """Our weights in Keras's `get_weights()` order: layers in definition order, within a layer
    kernel, bias (Conv/Dense) or gamma, beta, moving mean, moving variance (BatchNorm)."""
    out = []
    for layer in nn.layers_in_order(module):
        if isinstance(layer, nn.BatchNorm):
            names = ("scale", "bias", "mean", "var")
        else:
            names = ("kernel", "bias")
        out += [np.asarray(getattr(layer, n)[...]) for n in names if getattr(layer, n, None) is not None]
    return out
