"""`cnnlab.models.decoder`/`encoder`: every model's decoder as a pure function of `(params, z)`.

Oracles: the model's own NNX method on an evaluation-mode copy (for every decoding model),
the hand-written `cnnlab.ops` forward passes of `cnnlab.models.functional` (ConvAutoencoder,
NoiseToDigit), a Python loop for `vmap` over codes, and each model decoded alone for `vmap`
over stacked parameter sets.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import latent, models
from tests.nn.keras_oracle import randomize
from tests.tolerances import assert_close

# (name, builder, latent shape); small configurations keep the file fast.
DECODING = [
    ("ConvAutoencoder", lambda r: models.ConvAutoencoder(rngs=r), (4, 4, 8)),
    ("StridedAutoencoder", lambda r: models.StridedAutoencoder(rngs=r), (2,)),
    ("DenoisingAutoencoder", lambda r: models.DenoisingAutoencoder(rngs=r), (4, 4, 8)),
    ("LeNetAutoencoder", lambda r: models.LeNetAutoencoder(3, rngs=r), (3,)),
    ("ImprovedLeNetAutoencoder", lambda r: models.ImprovedLeNetAutoencoder(4, rngs=r), (4,)),
    ("WideLeNetAutoencoder", lambda r: models.WideLeNetAutoencoder(3, width=2, rngs=r), (3,)),
    ("NoiseToDigit", lambda r: models.NoiseToDigit(5, rngs=r), (5,)),
]


def _model(build, seed):
    # Random weights and batch-norm statistics; left in training mode (the NNX default), so
    # the decoders must switch to evaluation mode themselves.
    return randomize(build(nnx.Rngs(seed)), seed=seed, scale=None)


# The NNX method itself, compiled by `nnx.jit` (once per graph: eager dispatch is slow).
_decode = nnx.jit(lambda m, z: m.decode(z))
_encode = nnx.jit(lambda m, x: m.encode(x))


def _reference(model, z):
    """``model.decode(z)`` on an evaluation-mode copy of the model."""
    ref = nnx.clone(model)
    ref.eval()
    return _decode(ref, z)


def _snapshot(model):
    graphdef, state = nnx.split(model)
    return graphdef, [np.array(a) for a in jax.tree.leaves(state)]


@pytest.mark.parametrize("name, build, latent", DECODING, ids=[d[0] for d in DECODING])
def test_decoder_is_the_models_decode_under_jit_and_vmap(name, build, latent):
    model, other = _model(build, 0), _model(build, 1)
    before = _snapshot(model)
    decode, params = models.decoder(model)
    z = jax.random.normal(jax.random.key(2), (3, 2, *latent))  # 3 batches of 2 codes

    # jit(vmap) over batches of codes: each batch decoded by the model, in a Python loop.
    over_codes = jax.jit(jax.vmap(decode, in_axes=(None, 0)))(params, z)
    assert over_codes.shape == (3, 2, 28, 28, 1)
    for i in range(3):
        assert_close(over_codes[i], _reference(model, z[i]))

    _, params_other = models.decoder(other)
    stacked = models.stack_params([params, params_other])
    over_models = jax.jit(jax.vmap(decode, in_axes=(0, None)))
    over_params = over_models(stacked, z[0])
    assert_close(over_params[0], _reference(model, z[0]))
    assert_close(over_params[1], _reference(other, z[0]))
    assert not np.allclose(over_params[0], over_params[1])  # the parameter sets really differ
    by_tree_map = jax.tree.map(lambda *a: jnp.stack(a), params, params_other)
    assert_close(over_models(by_tree_map, z[0]), over_params)

    # The model is untouched: same graph (still in training mode), same arrays.
    after = _snapshot(model)
    assert after[0] == before[0]
    for a, b in zip(after[1], before[1], strict=True):
        np.testing.assert_array_equal(a, b)
    # One architecture, one function: a jitted decode compiles once for every member.
    assert models.decoder(other)[0] is decode


def test_jit_equals_eager():
    # Eager (op-by-op) dispatch compiles every primitive on first use: one model only.
    model = _model(lambda r: models.LeNetAutoencoder(3, rngs=r), 0)
    decode, params = models.decoder(model)
    z = jax.random.normal(jax.random.key(6), (2, 3))
    eager = decode(params, z)
    assert_close(jax.jit(decode)(params, z), eager)
    ref = nnx.clone(model)
    ref.eval()
    assert_close(eager, ref.decode(z))
    assert_close(latent.decode(model, z), eager)  # the batched cnnlab.latent path agrees


def test_batch_norm_runs_in_inference_mode():
    model = _model(lambda r: models.WideLeNetAutoencoder(3, width=2, rngs=r), 0)
    decode, params = models.decoder(model)
    decode = jax.jit(decode)
    z = jax.random.normal(jax.random.key(3), (4, 3))
    together = decode(params, z)
    alone = jnp.concatenate([decode(params, z[i : i + 1]) for i in range(4)])
    assert_close(together, alone)  # moving statistics: a code does not depend on its batch-mates
    assert not np.allclose(together, _decode(model, z))  # training mode (batch statistics) differs


def test_agrees_with_the_hand_written_functional_passes():
    ae = _model(lambda r: models.ConvAutoencoder(rngs=r), 0)
    x = jnp.asarray(np.random.default_rng(4).uniform(size=(2, 28, 28, 1)).astype(np.float32))
    p = models.conv_autoencoder_params(ae)
    encode, params = models.encoder(ae)
    z = jax.jit(encode)(params, x)
    assert_close(z, jax.jit(models.encoder_apply)(p, x))
    assert_close(z, _encode(ae, x))  # no batch norm or dropout: the mode does not matter
    decode, params_d = models.decoder(ae)
    assert_close(jax.jit(decode)(params_d, z), jax.jit(models.decoder_apply)(p, z))
    jax.tree.map(np.testing.assert_array_equal, params, params_d)  # one dict serves both

    gen = _model(lambda r: models.NoiseToDigit(5, rngs=r), 0)
    gen.eval()  # noise_to_digit_params reads the statistics; its apply is inference mode
    decode, params = models.decoder(gen)
    noise = jax.random.normal(jax.random.key(5), (3, 5))
    want = jax.jit(models.noise_to_digit_apply)(models.noise_to_digit_params(gen), noise)
    assert_close(jax.jit(decode)(params, noise), want)


@pytest.mark.parametrize("model", [models.MnistCNN, lambda rngs: models.Segmenter(2, rngs=rngs)])
def test_models_without_a_decoder_are_refused_by_name(model):
    m = model(rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match=rf"decoder: {type(m).__name__} has no decode\(\) method"):
        models.decoder(m)


def test_other_errors():
    with pytest.raises(TypeError, match=r"decoder: object has no decode\(\) method"):
        models.decoder(object())
    with pytest.raises(TypeError, match=r"encoder: NoiseToDigit has no encode\(\) method"):
        models.encoder(models.NoiseToDigit(5, rngs=nnx.Rngs(0)))
