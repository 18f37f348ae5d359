"""Convolutional autoencoders: `model(x)` reconstructs, `encode`/`decode` expose the latent code.

Inputs are `(N, 28, 28, 1)` floats in [0, 1] (MNIST-sized digits).
"""

from flax import nnx

from cnnlab import nn
from cnnlab.models.registry import zoo_model

__all__ = [
    "Autoencoder",
    "ConvAutoencoder",
    "StridedAutoencoder",
    "DenoisingAutoencoder",
    "LeNetAutoencoder",
    "ImprovedLeNetAutoencoder",
    "WideLeNetAutoencoder",
]


class Autoencoder(nnx.Module):
    """Base class: `self.encoder` and `self.decoder`; `model(x) = decode(encode(x))`."""

    encoder: nn.Sequential
    decoder: nn.Sequential

    def encode(self, x):
        """Images `(N, 28, 28, 1)` -> latent codes."""
        return self.encoder(x)

    def decode(self, z):
        """Latent codes -> reconstructions `(N, 28, 28, 1)`."""
        return self.decoder(z)

    def __call__(self, x):
        """Reconstruct `(N, 28, 28, 1)` images."""
        return self.decode(self.encode(x))


@zoo_model
class ConvAutoencoder(Autoencoder):
    """The convolutional autoencoder of the Keras blog, "Building Autoencoders in Keras" (Chollet, 2016).

    ReLU 3x3 convolutions, SAME everywhere except the third decoder convolution, which is
    VALID so that 16 -> 14 and the last upsampling lands on 28. Encoder 1,904 parameters,
    decoder 2,481:
    encode: `(N,28,28,1) -conv 16-> (N,28,28,16) -max2 same-> (N,14,14,16) -conv 8-> (N,14,14,8)
    -max2 same-> (N,7,7,8) -conv 8-> (N,7,7,8) -max2 same-> (N,4,4,8)`;
    decode: `(N,4,4,8) -conv 8-> (N,4,4,8) -up2-> (N,8,8,8) -conv 8-> (N,8,8,8) -up2-> (N,16,16,8)
    -conv 16 valid-> (N,14,14,16) -up2-> (N,28,28,16) -conv 1 sigmoid-> (N,28,28,1)`.

    The latent code is the `(N, 4, 4, 8)` feature map (128 numbers). The first two encoder
    convolutions and their poolings are `nn.Conv2DMaxPool` layers (`encoder[0]`, `encoder[1]`).

    Args:
      rngs: `nnx.Rngs`.
    """

    def __init__(self, *, rngs: nnx.Rngs):
        def conv(c_in, c_out, padding="same", activation="relu"):
            return nn.Conv2D(c_in, c_out, 3, padding=padding, activation=activation, rngs=rngs)

        # 28 -> 14 -> 7 pool without padding: bias and relu on the pooled map (`Conv2DMaxPool`).
        # 7 -> 4 pads, where pooling first would not be exact: two plain layers.
        self.encoder = nn.Sequential(
            nn.Conv2DMaxPool(conv(1, 16), nn.MaxPool2D(2, padding="same")),
            nn.Conv2DMaxPool(conv(16, 8), nn.MaxPool2D(2, padding="same")),
            conv(8, 8), nn.MaxPool2D(2, padding="same"),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            conv(8, 8), nn.UpSampling2D(2),
            conv(8, 8), nn.UpSampling2D(2),
            conv(8, 16, padding="valid"), nn.UpSampling2D(2),
            conv(16, 1, activation="sigmoid"),
        )  # fmt: skip


@zoo_model
class StridedAutoencoder(Autoencoder):
    """Seed 001's strided-convolution autoencoder with a 2-D latent space (KAIST notebook, section 4.3).

    No pooling: stride-2 convolutions downsample and stride-2 transposed convolutions
    upsample (Keras `Conv2DTranspose` SAME: `H -> 2H`). The seed's layers, one for one:
    encode: `(N,28,28,1) -conv3 32 s2 same relu-> (N,14,14,32) -conv3 64 s2 same relu->
    (N,7,7,64) -conv7 2 valid-> (N,1,1,2) -flatten-> (N,2)`;
    decode: `(N,2) -unflatten-> (N,1,1,2) -convT7 64 valid relu-> (N,7,7,64)
    -convT3 32 s2 same relu-> (N,14,14,32) -convT7 1 s2 same-> (N,28,28,1)`.
    The latent layer is linear and so is the output, as in the seed (its last
    `Conv2DTranspose(1, (7,7), strides=(2,2), padding='SAME')` has no activation).
    Encoder 320 + 18,496 + 6,274 = 25,090 parameters, decoder 6,336 + 18,464 + 1,569 = 26,369.

    Args:
      output_activation: the last layer's activation: None (linear) as in the seed;
        ``"sigmoid"`` is cnnlab's variant that bounds reconstructions to (0, 1).
      rngs: `nnx.Rngs`.
    """

    latent_dim = 2

    def __init__(self, *, output_activation: nn.Activation = None, rngs: nnx.Rngs):
        self.encoder = nn.Sequential(
            nn.Conv2D(1, 32, 3, strides=2, padding="same", activation="relu", rngs=rngs),
            nn.Conv2D(32, 64, 3, strides=2, padding="same", activation="relu", rngs=rngs),
            nn.Conv2D(64, 2, 7, padding="valid", rngs=rngs),
            nn.Flatten(),
        )
        self.decoder = nn.Sequential(
            nn.Unflatten((1, 1, 2)),
            nn.Conv2DTranspose(2, 64, 7, padding="valid", activation="relu", rngs=rngs),
            nn.Conv2DTranspose(64, 32, 3, strides=2, padding="same", activation="relu", rngs=rngs),
            nn.Conv2DTranspose(32, 1, 7, strides=2, padding="same", activation=output_activation, rngs=rngs),
        )


@zoo_model
class DenoisingAutoencoder(Autoencoder):
    """Denoising autoencoder with VALID convolutions and a transposed-convolution decoder, ReLU throughout.

    Trained on noisy inputs against clean targets (`cnnlab.data.salt_and_pepper`).
    encode: `(N,28,28,1) -conv3 16 valid-> (N,26,26,16) -max2-> (N,13,13,16) -conv2 8 valid->
    (N,12,12,8) -max2-> (N,6,6,8) -conv3 8 valid-> (N,4,4,8)`;
    decode: `(N,4,4,8) -convT3 8 valid-> (N,6,6,8) -up2-> (N,12,12,8) -convT2 8 valid->
    (N,13,13,8) -up2-> (N,26,26,8) -convT3 1 valid-> (N,28,28,1)`.
    The two encoder convolutions with their poolings are `nn.Conv2DMaxPool` layers.

    Args:
      output_activation: activation of the last layer; `"relu"` as specified (outputs in
        [0, inf)), `"sigmoid"` to bound reconstructions to (0, 1).
      rngs: `nnx.Rngs`.
    """

    def __init__(self, *, output_activation: nn.Activation = "relu", rngs: nnx.Rngs):
        self.encoder = nn.Sequential(
            nn.Conv2DMaxPool(nn.Conv2D(1, 16, 3, activation="relu", rngs=rngs), nn.MaxPool2D(2)),
            nn.Conv2DMaxPool(nn.Conv2D(16, 8, 2, activation="relu", rngs=rngs), nn.MaxPool2D(2)),
            nn.Conv2D(8, 8, 3, activation="relu", rngs=rngs),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2DTranspose(8, 8, 3, activation="relu", rngs=rngs), nn.UpSampling2D(2),
            nn.Conv2DTranspose(8, 8, 2, activation="relu", rngs=rngs), nn.UpSampling2D(2),
            nn.Conv2DTranspose(8, 1, 3, activation=output_activation, rngs=rngs),
        )  # fmt: skip


@zoo_model
class LeNetAutoencoder(Autoencoder):
    """Seed 003's LeNet autoencoder (HMC homework 9, Q13): LeNet-5 encodes, its mirror image decodes.

    PyTorch's layers, one for one (`ConvTranspose2d` with PyTorch's integer padding):
    encode: `(N,28,28,1) -conv5 6 same tanh-> (N,28,28,6) -avg2-> (N,14,14,6) -conv5 16 valid tanh->
    (N,10,10,16) -avg2-> (N,5,5,16) -flatten-> (N,400) -dense tanh-> (N,120) -dense tanh-> (N,84)
    -dense-> (N,latent)`;
    decode: `(N,latent) -dense tanh-> (N,84) -dense tanh-> (N,120) -dense tanh-> (N,400)
    -unflatten-> (N,5,5,16) -up2-> (N,10,10,16) -convT5 6 pad 0 tanh-> (N,14,14,6) -up2->
    (N,28,28,6) -convT5 1 pad 2-> (N,28,28,1)`. The output is linear, as in the seed (its
    last layer, `ConvTranspose2d(6, 1, kernel_size=5, padding=2)`, has no activation).
    Encoder 61,706 parameters, decoder 62,081 (10-d code).

    Args:
      latent_dim: size of the code (the seed's 10: LeNet-5's class outputs).
      output_activation: the last layer's activation: None (linear) as in the seed;
        ``"sigmoid"`` is cnnlab's variant that bounds reconstructions to (0, 1).
      rngs: `nnx.Rngs`.
    """

    def __init__(self, latent_dim: int = 10, *, output_activation: nn.Activation = None, rngs: nnx.Rngs):
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2D(1, 6, 5, padding="same", activation="tanh", rngs=rngs), nn.AvgPool2D(2),
            nn.Conv2D(6, 16, 5, activation="tanh", rngs=rngs), nn.AvgPool2D(2),
            nn.Flatten(),
            nn.Dense(400, 120, activation="tanh", rngs=rngs),
            nn.Dense(120, 84, activation="tanh", rngs=rngs),
            nn.Dense(84, latent_dim, rngs=rngs),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Dense(latent_dim, 84, activation="tanh", rngs=rngs),
            nn.Dense(84, 120, activation="tanh", rngs=rngs),
            nn.Dense(120, 400, activation="tanh", rngs=rngs),
            nn.Unflatten((5, 5, 16)),
            nn.UpSampling2D(2), nn.Conv2DTranspose(16, 6, 5, padding=0, activation="tanh", rngs=rngs),
            nn.UpSampling2D(2), nn.Conv2DTranspose(6, 1, 5, padding=2, activation=output_activation, rngs=rngs),
        )  # fmt: skip


@zoo_model
class ImprovedLeNetAutoencoder(Autoencoder):
    """Seed 003's improved LeNet autoencoder (HMC homework 9, Q16): an 80-d code, 16-channel tanh convolutions.

    The seed's answer to "modify the architecture to improve the performance", PyTorch's
    layers one for one: two 3x3 convolutions before each average pooling, wider Dense
    layers (160 and 120 units) and an 80-number code, mirrored by the decoder:
    encode: `(N,28,28,1) -conv3 16 same tanh-> -conv3 16 same tanh-> (N,28,28,16) -avg2->
    (N,14,14,16) -conv5 16 valid tanh-> (N,10,10,16) -conv3 16 same tanh-> -avg2-> (N,5,5,16)
    -flatten-> (N,400) -dense tanh-> (N,160) -dense tanh-> (N,120) -dense-> (N,latent)`;
    decode: `(N,latent) -dense tanh-> (N,120) -dense tanh-> (N,160) -dense tanh-> (N,400)
    -unflatten-> (N,5,5,16) -up2-> (N,10,10,16) -convT3 16 pad 1 tanh-> (N,10,10,16)
    -convT5 16 pad 0 tanh-> (N,14,14,16) -up2-> (N,28,28,16) -convT3 16 pad 1 tanh->
    -convT3 1 pad 1-> (N,28,28,1)`, linear output as in the seed. Encoder 104,376
    parameters, decoder 104,681 (80-d code).

    Args:
      latent_dim: size of the code (the seed's 80).
      rngs: `nnx.Rngs`.
    """

    def __init__(self, latent_dim: int = 80, *, rngs: nnx.Rngs):
        def conv(k, padding="same"):
            return nn.Conv2D(16, 16, k, padding=padding, activation="tanh", rngs=rngs)

        def conv_t(k, padding, c_out=16, activation="tanh"):
            return nn.Conv2DTranspose(16, c_out, k, padding=padding, activation=activation, rngs=rngs)

        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2D(1, 16, 3, padding="same", activation="tanh", rngs=rngs), conv(3), nn.AvgPool2D(2),
            conv(5, "valid"), conv(3), nn.AvgPool2D(2),
            nn.Flatten(),
            nn.Dense(400, 160, activation="tanh", rngs=rngs),
            nn.Dense(160, 120, activation="tanh", rngs=rngs),
            nn.Dense(120, latent_dim, rngs=rngs),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Dense(latent_dim, 120, activation="tanh", rngs=rngs),
            nn.Dense(120, 160, activation="tanh", rngs=rngs),
            nn.Dense(160, 400, activation="tanh", rngs=rngs),
            nn.Unflatten((5, 5, 16)),
            nn.UpSampling2D(2), conv_t(3, 1), conv_t(5, 0),
            nn.UpSampling2D(2), conv_t(3, 1), conv_t(3, 1, c_out=1, activation=None),
        )  # fmt: skip


@zoo_model
class WideLeNetAutoencoder(Autoencoder):
    """cnnlab's variant, in no seed: a wider, batch-normalized ReLU `LeNetAutoencoder`, 4x the filters.

    The shape walk of `LeNetAutoencoder` with convolutions of `w = width` and `2w` filters
    (LeNet's 6 and 16), one hidden Dense of 256 units on each side, every hidden layer
    `BatchNormalized(layer, "relu")`, and max pooling instead of average:
    encode: `(N,28,28,1) -conv5 w same-> (N,28,28,w) -max2-> (N,14,14,w) -conv5 2w valid->
    (N,10,10,2w) -max2-> (N,5,5,2w) -flatten-> (N,50w) -dense-> (N,256) -dense-> (N,latent)`;
    decode: `(N,latent) -dense-> (N,256) -dense-> (N,50w) -unflatten-> (N,5,5,2w) -up2->
    (N,10,10,2w) -convT5 w valid-> (N,14,14,w) -up2-> (N,28,28,w) -convT5 1 same sigmoid-> (N,28,28,1)`.

    Args:
      latent_dim: size of the code.
      width: filters of the first convolution (w above).
      rngs: `nnx.Rngs`.
    """

    def __init__(self, latent_dim: int = 10, *, width: int = 24, rngs: nnx.Rngs):
        def bn(layer):
            return nn.BatchNormalized(layer, "relu", rngs=rngs)

        w = width
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            bn(nn.Conv2D(1, w, 5, padding="same", rngs=rngs)), nn.MaxPool2D(2),
            bn(nn.Conv2D(w, 2 * w, 5, rngs=rngs)), nn.MaxPool2D(2),
            nn.Flatten(),
            bn(nn.Dense(50 * w, 256, rngs=rngs)),
            nn.Dense(256, latent_dim, rngs=rngs),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            bn(nn.Dense(latent_dim, 256, rngs=rngs)),
            bn(nn.Dense(256, 50 * w, rngs=rngs)),
            nn.Unflatten((5, 5, 2 * w)),
            nn.UpSampling2D(2), bn(nn.Conv2DTranspose(2 * w, w, 5, rngs=rngs)),
            nn.UpSampling2D(2), nn.Conv2DTranspose(w, 1, 5, padding="same", activation="sigmoid", rngs=rngs),
        )  # fmt: skip
