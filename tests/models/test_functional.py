"""Functional forward passes (`cnnlab.models.functional`) equal the NNX models holding the same weights,
under `jit`, and under `vmap` over latent codes and over stacked parameter sets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import models
from tests.nn.keras_oracle import randomize
from tests.tolerances import assert_close


def _autoencoder(seed):
    return randomize(models.ConvAutoencoder(rngs=nnx.Rngs(seed)), seed=seed, scale=None)


@pytest.fixture(scope="module")
def autoencoders():
    return [_autoencoder(s) for s in range(3)]


def _images(n, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(n, 28, 28, 1)).astype(np.float32))


def test_encoder_and_decoder_apply_equal_the_model(autoencoders):
    model = autoencoders[0]
    p = models.conv_autoencoder_params(model)
    x = _images(4)
    z = jax.jit(models.encoder_apply)(p, x)
    assert_close(z, nnx.jit(lambda m, x: m.encode(x))(model, x))
    assert_close(jax.jit(models.decoder_apply)(p, z), nnx.jit(lambda m, x: m(x))(model, x))


def test_decoder_apply_vmaps_over_latent_codes_and_parameter_sets(autoencoders):
    params = [models.conv_autoencoder_params(m) for m in autoencoders]
    z = jax.random.uniform(jax.random.key(0), (5, 2, 4, 4, 8))  # 5 batches of 2 codes
    # Over latent batches: the same as decoding each batch on its own.
    out = jax.jit(jax.vmap(models.decoder_apply, in_axes=(None, 0)))(params[0], z)
    dec = nnx.jit(lambda m, z: m.decode(z))
    for i in range(5):
        assert_close(out[i], dec(autoencoders[0], z[i]))
    # Over models: one compiled call decodes with each parameter set.
    per_model = jax.jit(jax.vmap(models.decoder_apply, in_axes=(0, None)))(models.stack_params(params), z[0])
    for i, m in enumerate(autoencoders):
        assert_close(per_model[i], dec(m, z[0]))
    assert not np.allclose(per_model[0], per_model[1])  # the parameter sets really differ


def test_noise_to_digit_apply_equals_the_model_in_eval_mode():
    model = randomize(models.NoiseToDigit(8, rngs=nnx.Rngs(0)), scale=None)
    model.eval()
    p = models.noise_to_digit_params(model)
    z = jax.random.normal(jax.random.key(1), (6, 8))
    assert_close(jax.jit(models.noise_to_digit_apply)(p, z), nnx.jit(lambda m, z: m(z))(model, z))


def test_functional_errors_name_the_function_and_shapes():
    p = models.conv_autoencoder_params(models.ConvAutoencoder(rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=r"encoder_apply: x must have shape \(N, 28, 28, 1\), got \(2, 28, 28\)"):
        models.encoder_apply(p, jnp.ones((2, 28, 28)))
    with pytest.raises(ValueError, match=r"decoder_apply: z must have shape \(N, 4, 4, 8\), got \(2, 4, 4, 4\)"):
        models.decoder_apply(p, jnp.ones((2, 4, 4, 4)))
    with pytest.raises(TypeError, match="must be a ConvAutoencoder, got MnistCNN"):
        models.conv_autoencoder_params(nnx.eval_shape(lambda: models.MnistCNN(rngs=nnx.Rngs(0))))
