"""`NoiseToDigit`: a decoder from a noise vector to a 28x28 digit (a GAN-style generator)."""

import jax
from flax import nnx

from cnnlab import nn
from cnnlab.models.registry import zoo_model

__all__ = ["NoiseToDigit"]


@zoo_model
class NoiseToDigit(nnx.Module):
    """Map a noise vector to a `(28, 28, 1)` image in (0, 1), the DCGAN-style generator of the Keras examples.

    A Dense projection to a 7x7 feature map, then two stride-2 transposed convolutions
    (Keras SAME: `H -> 2H`), batch-normalized before their ReLUs, and a sigmoid 3x3 convolution:
    `(N,noise) -dense, bn, relu-> (N,3136) -unflatten-> (N,7,7,64) -convT3 64 s2 same, bn, relu->
    (N,14,14,64) -convT3 32 s2 same, bn, relu-> (N,28,28,32) -conv3 1 same sigmoid-> (N,28,28,1)`.

    It is also a plain decoder: train it with `decode` on fixed codes (noise -> digit
    regression), or as the generator of a GAN.

    Inputs are not rescaled. With large-range inputs (the noise-to-digit study feeds
    values up to 1,000) and a constant learning rate, batch norm's moving statistics
    (momentum 0.99) trail the fast-moving Dense pre-activations, so the model generates
    poorly in evaluation mode although its training loss falls: decay the learning rate
    to zero over the run (as `experiments.noise_to_digit` does), or re-estimate the
    statistics before generating.

    Args:
      noise_dim: size of the input vector.
      rngs: `nnx.Rngs`.
    """

    def __init__(self, noise_dim: int = 100, *, rngs: nnx.Rngs):
        def bn(layer):
            return nn.BatchNormalized(layer, "relu", rngs=rngs)

        self.noise_dim = noise_dim
        self.decoder = nn.Sequential(
            bn(nn.Dense(noise_dim, 7 * 7 * 64, rngs=rngs)),
            nn.Unflatten((7, 7, 64)),
            bn(nn.Conv2DTranspose(64, 64, 3, strides=2, padding="same", rngs=rngs)),
            bn(nn.Conv2DTranspose(64, 32, 3, strides=2, padding="same", rngs=rngs)),
            nn.Conv2D(32, 1, 3, padding="same", activation="sigmoid", rngs=rngs),
        )

    def decode(self, z):
        """`(N, noise_dim)` -> `(N, 28, 28, 1)` images in (0, 1)."""
        return self.decoder(z)

    def __call__(self, z):
        """Same as `decode`."""
        return self.decode(z)

    def sample_noise(self, key, n: int):
        """`(n, noise_dim)` standard-normal noise vectors from a `jax.random` key."""
        return jax.random.normal(key, (n, self.noise_dim))
