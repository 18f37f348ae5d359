"""`objectives.Objective`: seed 001's L2 kernel regulariser, against Keras 3 and by hand.

Seed 001 (section 1) documents ``kernel_regularizer=tf.keras.regularizers.l2(0.04)``: Keras
adds ``0.04 * sum(kernel ** 2)`` of that layer to the loss. The oracle is Keras 3 (JAX
backend) with the seed's strided autoencoder, our weights, the regulariser on its first
convolution, and one SGD step on one batch: the loss Keras reports for that step equals the
loss `fit` records, and the weights after the step agree (the penalty's gradient included).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import models, nn, train
from tests.nn.keras_oracle import keras_numerics, randomize
from tests.tolerances import assert_close

FACTOR = 0.04  # seed 001's l2(0.04)
LR = 0.05


def _keras_seed_001(weights, factor):
    """Seed 001's encoder and decoder as one Keras model, ``l2(factor)`` on the first Conv2D's kernel."""
    import keras
    from keras import layers as L

    reg = keras.regularizers.l2(factor) if factor else None
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(32, (3, 3), strides=(2, 2), activation="relu", padding="SAME", kernel_regularizer=reg),
        L.Conv2D(64, (3, 3), strides=(2, 2), activation="relu", padding="SAME"),
        L.Conv2D(2, (7, 7), padding="VALID"),
        L.Conv2DTranspose(64, (7, 7), strides=(1, 1), activation="relu", padding="VALID"),
        L.Conv2DTranspose(32, (3, 3), strides=(2, 2), activation="relu", padding="SAME"),
        L.Conv2DTranspose(1, (7, 7), strides=(2, 2), padding="SAME"),
    ])  # fmt: skip
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(LR), loss="mean_squared_error")
    return model


def _weights(model):
    return [
        np.asarray(getattr(m, n)[...]) for m in nn.layers_in_order(model) for n in ("kernel", "bias") if hasattr(m, n)
    ]


@pytest.mark.parametrize("factor", [FACTOR, 0.0], ids=["l2(0.04)", "no-penalty"])
def test_one_step_with_the_penalty_matches_keras(factor):
    model = randomize(models.StridedAutoencoder(rngs=nnx.Rngs(0)), scale=None)
    x = np.random.default_rng(1).uniform(size=(8, 28, 28, 1)).astype(np.float32)
    before = _weights(model)
    with keras_numerics():
        oracle = _keras_seed_001(before, factor)
        keras_loss = float(oracle.train_on_batch(x, x))
        keras_after = [np.asarray(v.value) for v in oracle.weights]
    objective = train.Objective("mse", l2=factor, l2_layers=("encoder.0",) if factor else ())
    history = train.fit(
        model, (x, x), loss=objective, optimizer={"name": "sgd", "learning_rate": LR},
        epochs=1, batch_size=8, metrics=["mse"], verbose=False, divergence_factor=None,
    )  # fmt: skip
    assert_close(history["loss"][0], keras_loss, np.float32)
    # The data loss alone, by hand, and the penalty, by hand, make up the training loss.
    penalty = factor * float(np.sum(before[0].astype(np.float64) ** 2))
    assert_close(history["loss"][0] - history["mse"][0], penalty, np.float32)
    if factor:
        assert penalty > 1e-3 * keras_loss  # large enough for the comparison to see it
        assert history.config["penalty"] == "l2(0.04) on encoder.0"
    for ours, theirs in zip(_weights(model), keras_after, strict=True):
        assert_close(ours, theirs, grad=True)


def test_the_penalty_is_factor_times_the_sum_of_squared_kernels():
    model = models.LeNetAutoencoder(3, rngs=nnx.Rngs(0))
    objective = train.Objective("mae", l2=0.5, l2_layers=("encoder.0", "decoder.7"))
    k0 = np.asarray(model.encoder.layers[0].kernel[...], np.float64)
    k1 = np.asarray(model.decoder.layers[7].kernel[...], np.float64)
    assert_close(objective.penalty(model), 0.5 * (np.sum(k0**2) + np.sum(k1**2)), np.float32)
    assert float(train.Objective("mae").penalty(model)) == 0.0


@pytest.mark.parametrize(
    "kwargs,error,words",
    [
        (dict(l2=-0.1, l2_layers=("encoder.0",)), ValueError, r"l2 must be a finite number >= 0, got -0.1"),
        (dict(l2=0.04), ValueError, r"l2=0.04 names no layer; give l2_layers"),
        (dict(l2=0.04, l2_layers="encoder.0"), TypeError, r"l2_layers must be a tuple of layer paths"),
    ],
)
def test_bad_objectives_are_refused(kwargs, error, words):
    with pytest.raises(error, match=words):
        train.Objective("mse", **kwargs)


@pytest.mark.parametrize("path", ["encoder.9", "encoder.3"], ids=["no-such-layer", "flatten-has-no-kernel"])
def test_fit_refuses_a_layer_without_a_kernel_before_compiling(path):
    model = models.StridedAutoencoder(rngs=nnx.Rngs(0))
    x = jnp.zeros((4, 28, 28, 1))
    with pytest.raises(
        ValueError, match=rf"fit: Objective.l2_layers names '{path}', which is not a layer with a kernel"
    ):
        train.fit(model, (x, x), loss=train.Objective("mse", 0.04, (path,)), optimizer="adam", epochs=1, batch_size=4)


def test_fit_many_refuses_the_penalty():
    x = jnp.zeros((4, 28, 28, 1))
    with pytest.raises(ValueError, match="fit_many: the L2 penalty"):
        train.fit_many(
            lambda r: models.StridedAutoencoder(rngs=r), [0, 1], (x, x),
            loss=train.Objective("mse", 0.04, ("encoder.0",)), optimizer="adam", epochs=1, batch_size=4,
        )  # fmt: skip
