"""`cnnlab.summary`: per-layer tables that match the seeds' Keras tables and Keras 3's own counts."""

import os
import re
from pathlib import Path

import pytest
from flax import nnx

from cnnlab import models, summary
from cnnlab.nn import count_params

SEED_000 = Path("/work/shared/seeds/000_ce9b13643acbe719.txt")

#: Seed 000's Keras tables (Listings 1 and 2) of the Keras-blog convolutional autoencoder:
#: (output shape, Param #) per layer, encoder then decoder.
SEED_ENCODER = [
    ((None, 28, 28, 16), 160),
    ((None, 14, 14, 16), 0),
    ((None, 14, 14, 8), 1160),
    ((None, 7, 7, 8), 0),
    ((None, 7, 7, 8), 584),
    ((None, 4, 4, 8), 0),
]
SEED_DECODER = [
    ((None, 4, 4, 8), 584),
    ((None, 8, 8, 8), 0),
    ((None, 8, 8, 8), 584),
    ((None, 16, 16, 8), 0),
    ((None, 14, 14, 16), 1168),
    ((None, 28, 28, 16), 0),
    ((None, 28, 28, 1), 145),
]


def _seed_tables(text: str) -> list[list[tuple[tuple, int]]]:
    """The rows ``name (Type)<TAB>(None, ...)<TAB>count`` of each table in a seed's text."""
    tables, rows = [], None
    for line in text.splitlines():
        if line.startswith("Layer (type)"):
            rows = []
            tables.append(rows)
        elif rows is not None and (m := re.fullmatch(r"\S+ \(\w+\)?\t\(None, ([\d, ]+)\)\t([\d,]+)", line.strip())):
            shape = (None, *(int(d) for d in m.group(1).split(",")))
            rows.append((shape, int(m.group(2).replace(",", ""))))
    return tables


def test_the_embedded_tables_are_the_seeds():
    if not SEED_000.exists():
        pytest.skip("the seed documents are not on this machine")
    assert _seed_tables(SEED_000.read_text()) == [SEED_ENCODER, SEED_DECODER]


def test_conv_autoencoder_matches_the_seed_layer_by_layer():
    rows = summary.summary_rows(models.ConvAutoencoder, (28, 28, 1))
    encoder = [(r.output_shape, r.params) for r in rows if r.part == "encoder"]
    decoder = [(r.output_shape, r.params) for r in rows if r.part == "decoder"]
    assert encoder == SEED_ENCODER
    assert decoder == SEED_DECODER
    assert [r.kind for r in rows][:2] == ["Conv2D", "MaxPool2D"]


def test_conv_autoencoder_table_text():
    text = summary.summary(models.ConvAutoencoder, (28, 28, 1))
    lines = text.splitlines()
    assert lines[0] == 'Model: "ConvAutoencoder", input (None, 28, 28, 1)'
    assert re.search(r"^encoder \(Sequential\) +\(None, 4, 4, 8\) +1,904$", text, re.M), text
    assert re.search(r"^decoder \(Sequential\) +\(None, 28, 28, 1\) +2,481$", text, re.M), text
    assert re.search(r"^decoder\.4 \(Conv2D\) +\(None, 14, 14, 16\) +1,168$", text, re.M), text
    assert lines[-3:] == ["Total params: 4,385", "Trainable params: 4,385", "Non-trainable params: 0"]


def test_mnist_cnn_is_12794_parameters():
    rows = summary.summary_rows(models.MnistCNN, (28, 28))  # seed 004's Input((28, 28)) and Reshape
    assert [(r.output_shape, r.params) for r in rows] == [
        ((None, 28, 28, 1), 0),
        ((None, 28, 28, 32), 320),
        ((None, 14, 14, 32), 0),
        ((None, 14, 14, 16), 4624),
        ((None, 7, 7, 16), 0),
        ((None, 784), 0),
        ((None, 10), 7850),
    ]
    assert summary.summary(models.MnistCNN, (28, 28, 1)).splitlines()[-3] == "Total params: 12,794"


def test_batch_norm_statistics_are_non_trainable_parameters_as_in_keras():
    rows = summary.summary_rows(models.LeNet5Improved, (28, 28, 1))
    assert sum(r.params for r in rows) == 327_242
    assert sum(r.params - r.trainable for r in rows) == 832  # moving mean and variance of 416 channels
    text = summary.summary(models.LeNet5Improved, (28, 28, 1))
    assert "Trainable params: 326,410" in text and "Non-trainable params: 832" in text


@pytest.mark.parametrize("name", summary.model_names())
def test_every_model_sums_to_its_parameter_count(name):
    cls = getattr(models, name)
    shape = summary.DEFAULT_INPUT_SHAPES.get(name, (28, 28, 1))
    rows = summary.summary_rows(cls, shape)
    abstract = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0)))
    assert sum(r.params for r in rows) == count_params(abstract)
    assert sum(r.trainable for r in rows) == count_params(abstract, trainable_only=True)
    assert all(r.output_shape for r in rows)  # every layer was reached
    assert "Total params" in summary.summary(cls, shape)


def test_a_built_model_and_its_class_give_the_same_rows():
    model = models.StridedAutoencoder(rngs=nnx.Rngs(0))
    assert summary.summary_rows(model, (28, 28, 1)) == summary.summary_rows(models.StridedAutoencoder, (28, 28, 1))
    assert [r.output_shape for r in summary.summary_rows(model, (28, 28, 1))][3] == (None, 2)


def test_a_shared_layer_lists_each_shape_and_only_containers_get_subtotals():
    rows = summary.summary_rows(models.Segmenter, (64, 64, 1))
    (pool,) = [r for r in rows if r.name == "pool"]
    assert pool.output_shape == ((None, 32, 32, 16), (None, 16, 16, 32))
    assert [r.name for r in rows][:3] == ["down1.0", "down1.1", "pool"]  # the order the data flows
    assert "(Sequential)" not in summary.summary(models.Segmenter, (64, 64, 1))  # head is a part of its own


def test_model_names_are_the_concrete_models():
    names = summary.model_names()
    assert {"ConvAutoencoder", "MnistCNN", "LeNet5", "NoiseToDigit", "Segmenter"} <= set(names)
    assert "Autoencoder" not in names and "Classifier" not in names
    with pytest.raises(KeyError, match="unknown model 'Nope'; known models: CifarCNN, ConvAutoencoder"):
        summary.resolve_model("Nope")


# -- Keras 3's model.summary() counts for the same architectures -----------------------------


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


def _keras_rows(model) -> list[tuple[tuple, int]]:
    return [((None, *layer.output.shape[1:]), layer.count_params()) for layer in model.layers]


def test_keras_counts_the_conv_autoencoder_the_same():
    keras = _keras()
    L = keras.layers
    encoder = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(16, 3, activation="relu", padding="same"), L.MaxPooling2D(2, padding="same"),
        L.Conv2D(8, 3, activation="relu", padding="same"), L.MaxPooling2D(2, padding="same"),
        L.Conv2D(8, 3, activation="relu", padding="same"), L.MaxPooling2D(2, padding="same"),
    ])  # fmt: skip
    decoder = keras.Sequential([
        keras.Input((4, 4, 8)),
        L.Conv2D(8, 3, activation="relu", padding="same"), L.UpSampling2D(2),
        L.Conv2D(8, 3, activation="relu", padding="same"), L.UpSampling2D(2),
        L.Conv2D(16, 3, activation="relu"), L.UpSampling2D(2),
        L.Conv2D(1, 3, activation="sigmoid", padding="same"),
    ])  # fmt: skip
    rows = summary.summary_rows(models.ConvAutoencoder, (28, 28, 1))
    assert [(r.output_shape, r.params) for r in rows if r.part == "encoder"] == _keras_rows(encoder)
    assert [(r.output_shape, r.params) for r in rows if r.part == "decoder"] == _keras_rows(decoder)
    assert (encoder.count_params(), decoder.count_params()) == (1904, 2481)


def test_keras_counts_lenet5_improved_the_same():
    """Conv -> BatchNormalization (its moving statistics count) -> ReLU, as Keras lists them."""
    keras = _keras()
    L = keras.layers

    def block(*args, **kw):
        return [L.Conv2D(*args, **kw), L.BatchNormalization(), L.Activation("relu")]

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        *block(32, 3), *block(32, 3), *block(32, 5, strides=2, padding="same"), L.Dropout(0.4),
        *block(64, 3), *block(64, 3), *block(64, 5, strides=2, padding="same"), L.Dropout(0.4),
        L.Flatten(), L.Dense(128), L.BatchNormalization(), L.Activation("relu"), L.Dropout(0.4), L.Dense(10),
    ])  # fmt: skip
    ours = [(r.output_shape, r.params) for r in summary.summary_rows(models.LeNet5Improved, (28, 28, 1))]
    theirs = [row for row, layer in zip(_keras_rows(model), model.layers) if not isinstance(layer, L.Activation)]
    assert ours == theirs
    assert model.count_params() == 327_242
