"""`NoiseToDigit`: a decoder from a noise vector to a 28x28 digit (a GAN-style generator), and its inputs.

`class_noise` draws noise whose range encodes a class (the noise-to-digit study's phase 2);
`add_uniform_noise` is the ``augment`` of `cnnlab.train.fit` that draws such noise afresh at every step.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnlab import nn
from cnnlab.models.registry import zoo_model

__all__ = ["NoiseToDigit", "add_uniform_noise", "class_noise"]


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


def class_noise(key, classes, noise_dim: int, *, spacing: float = 100.0, width: float = 100.0) -> jax.Array:
    """Noise whose range encodes the class: row ``i`` is uniform in ``[spacing*c_i, spacing*c_i + width)``.

    The defaults are the classic noise-to-digit study's: digit k draws from ``[100 k, 100 k + 100)``.

    Args:
      key: a `jax.random` key.
      classes: ``(N,)`` integer classes.
      noise_dim: length of each noise vector.
      spacing: distance between the starts of consecutive classes' intervals.
      width: width of each interval.

    Returns:
      ``(N, noise_dim)`` float32.

    Raises:
      ValueError: ``classes`` is not 1-D integer, ``noise_dim`` < 1 or ``width`` <= 0.

    Example:
      >>> z = class_noise(jax.random.key(0), np.array([0, 9]), 100)
      >>> z.shape, bool((z[1] >= 900).all() and (z[1] < 1000).all())
      ((2, 100), True)
    """
    c = np.asarray(classes)
    if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"class_noise: classes must be a 1-D integer array (N,); got {c.shape} {c.dtype}")
    if isinstance(noise_dim, bool) or not isinstance(noise_dim, int) or noise_dim < 1:
        raise ValueError(f"class_noise: noise_dim must be a positive int; got {noise_dim!r}")
    if not width > 0:
        raise ValueError(f"class_noise: width must be positive; got {width!r}")
    start = jnp.asarray(c, jnp.float32)[:, None] * jnp.float32(spacing)
    return start + jax.random.uniform(key, (len(c), noise_dim), jnp.float32, 0.0, width)


def add_uniform_noise(width: float):
    """An ``augment`` for `cnnlab.train.fit`: ``(key, x) -> x + U[0, width)``, a fresh draw at every step.

    Fed the class offsets ``spacing * c`` (one row per example), it gives `class_noise`'s distribution.

    Args:
      width: width of the uniform interval, > 0.

    Returns:
      A function of a `jax.random` key and a float array, returning the array plus noise (float32).
    """
    if not width > 0:
        raise ValueError(f"add_uniform_noise: width must be positive; got {width!r}")

    def augment(key, x):
        return x + jax.random.uniform(key, x.shape, jnp.float32, 0.0, width)

    return augment
