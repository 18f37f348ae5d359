"""cnnlab.interop.seed000: Listing 3 in Keras has the seed's printed tables (Listings 1 and 2); the weights saved
as NumPy and run one cnnlab.ops call at a time give Keras's own output; the compile is Listing 8's."""

import functools
import types

import keras
import numpy as np
import pytest

from cnnlab.interop import seed000

# Keras's random initializers compile for many seconds per shape: build with zeros, then set known weights.
_L = keras.layers
ZERO_KERAS = types.SimpleNamespace(
    Input=keras.Input, Sequential=keras.Sequential, optimizers=keras.optimizers,
    layers=types.SimpleNamespace(
        Conv2D=functools.partial(_L.Conv2D, kernel_initializer="zeros"),
        MaxPooling2D=_L.MaxPooling2D, UpSampling2D=_L.UpSampling2D,
    ),
)  # fmt: skip


@pytest.fixture(scope="module")
def trained_like():
    """Listing 3 with random weights (a stand-in for trained ones), its parts, and the weights saved as NumPy."""
    model, encoder, decoder = seed000.keras_model(ZERO_KERAS)
    rng = np.random.default_rng(0)
    for v in model.weights:  # not get_weights(): Keras's Variable.numpy() warns under NumPy 2
        v.assign(rng.normal(0, 0.3, v.shape).astype(np.float32))
    return model, encoder, decoder


def test_keras_model_prints_the_seeds_listings_1_and_2(trained_like):
    _, encoder, decoder = trained_like
    for part, (listing, total) in seed000.LISTINGS.items():
        layers = {"encoder": encoder, "decoder": decoder}[part].layers
        # Keras's own summary rows against the seed's printed ones (its Keras 2 names aside).
        assert [(tuple(k.output.shape), k.count_params()) for k in layers] == [(s, n) for _, s, n in listing]
        assert {"encoder": encoder, "decoder": decoder}[part].count_params() == total
    assert (seed000.LISTINGS["encoder"][1], seed000.LISTINGS["decoder"][1]) == (1904, 2481)


def test_forward_from_npz_is_keras_output(trained_like, tmp_path):
    model, encoder, decoder = trained_like
    seed000.save_npz(encoder, decoder, tmp_path / "w.npz")
    weights = seed000.load_npz(tmp_path / "w.npz")
    assert sorted(weights) == sorted(f"{p}/{i}/{w}" for p, i, _ in seed000.CONVS for w in ("kernel", "bias"))
    np.testing.assert_array_equal(weights["decoder/4/kernel"], np.asarray(decoder.layers[4].kernel.value))
    x = np.random.default_rng(1).random((6, 28, 28, 1)).astype(np.float32)
    trace = []
    ours = np.asarray(seed000.forward(weights, x, trace=trace))
    np.testing.assert_allclose(ours, np.asarray(model.predict(x, verbose=0)), atol=1e-5)
    assert len(trace) == len(seed000.STEPS) == 20
    assert trace[15] == (6, 14, 14, 16)  # the one VALID convolution, decoder.layers[4]: 16 -> 14
    # Each encoder step's shape is Keras's encoder output at that stage.
    assert trace[8] == (6, *encoder.output.shape[1:])


def test_load_npz_names_missing_weights(tmp_path):
    np.savez(tmp_path / "w.npz", **{"encoder/0/kernel": np.zeros((3, 3, 1, 16))})
    with pytest.raises(ValueError, match=r"lacks \['encoder/0/bias', .*it holds \['encoder/0/kernel'\]"):
        seed000.load_npz(tmp_path / "w.npz")


def test_forward_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"x must be \(N, 28, 28, 1\); got \(2, 28, 28\)"):
        seed000.forward({}, np.zeros((2, 28, 28)))


def test_compile_is_listing_8s(trained_like):
    model = trained_like[0]
    seed000.compile_as_seed(keras, model)
    opt = model.optimizer
    assert type(opt).__name__ == "Adadelta"
    assert float(opt.learning_rate) == pytest.approx(0.5) and opt.rho == 0.95 and opt.epsilon == 1e-7
    assert model.loss == "binary_crossentropy"
