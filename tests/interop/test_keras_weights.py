"""`load_applications_weights`: Keras's own VGG16 / VGG19 (``weights=None``: no download), saved
locally in both layouts, loaded into `VGGEncoder`: its feature maps equal Keras's."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py
import numpy as np
import pytest
from flax import nnx

from cnnlab.interop.keras_weights import load_applications_weights, weights_layout
from cnnlab.models.vgg import VGGEncoder

keras = pytest.importorskip("keras")

# Keras's save_weights converts its variables with np.array(x, copy=False) (NumPy 2 warns); a Keras
# matter, not ours. The module's tests all read files Keras wrote.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _save_legacy(model, path, *, keras2_names=False):
    """The legacy layout. Keras 3's own writer by default; with ``keras2_names``, the naming of the
    files ``keras.applications`` downloads (``block1_conv1_W_1:0``), written here with h5py."""
    if not keras2_names:
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        return
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            g = f.create_group(layer.name)
            names = [f"{layer.name}_{s}_1:0" for s in ("W", "b")[: len(layer.weights)]]
            g.attrs["weight_names"] = [n.encode() for n in names]
            for n, w in zip(names, layer.weights, strict=True):
                g[n] = np.asarray(w.value)


@pytest.fixture(scope="module")
def vgg16(tmp_path_factory):
    d = tmp_path_factory.mktemp("vgg16")
    model = keras.applications.VGG16(weights=None, include_top=False)
    files = {"keras3": d / "vgg16.weights.h5", "legacy": d / "vgg16_legacy.h5", "keras2": d / "vgg16_notop.h5"}
    model.save_weights(files["keras3"])
    _save_legacy(model, files["legacy"])
    _save_legacy(model, files["keras2"], keras2_names=True)
    return model, files


def _inputs(n=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(-120, 150, (n, size, size, 3)).astype(np.float32)


def _keras_features(model, layer, x):
    return keras.Model(model.input, model.get_layer(layer).output).predict(x, verbose=0)  # compiled: faster


@nnx.jit
def _apply(model, x):
    return model(x)


def _close(ours, theirs):
    assert ours.shape == theirs.shape
    scale = float(np.abs(theirs).max())
    assert scale > 0
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize(
    ("layout", "up_to"), [("keras3", "block5_conv2"), ("legacy", "block3_pool"), ("keras2", "block5_pool")]
)
def test_vgg16_feature_maps_equal_keras(vgg16, layout, up_to):
    model, files = vgg16
    ours = VGGEncoder("vgg16", up_to=up_to, rngs=nnx.Rngs(0))
    loaded = load_applications_weights(ours, files[layout])
    assert [p for p, _ in loaded][0] == "block1_conv1" and all(str(files[layout]) in s for _, s in loaded)
    x = _inputs()
    _close(np.asarray(_apply(ours, x)), _keras_features(model, up_to, x))


def test_layouts_are_told_apart(vgg16, tmp_path):
    _, files = vgg16
    assert weights_layout(files["keras3"]) == "keras3"
    assert weights_layout(files["legacy"]) == weights_layout(files["keras2"]) == "legacy"
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"neither a legacy Keras weights file .* its top level holds \['x'\]"):
        weights_layout(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="is not an HDF5 weights file"):
        weights_layout(tmp_path / "text.h5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        weights_layout(tmp_path / "missing.h5")


def test_vgg19_block5_conv2_as_seed_002_cuts_it(tmp_path):
    """Seed 002's encoder: VGG19 up to 'block5_conv2', from the legacy layout ImageNet files use,
    with Keras's own ``preprocess_input`` applied on both sides (ours inside the encoder)."""
    from keras.applications import vgg19

    model = vgg19.VGG19(weights=None, include_top=False)
    path = tmp_path / "vgg19_notop.h5"
    _save_legacy(model, path, keras2_names=True)
    ours = VGGEncoder("vgg19", up_to="block5_conv2", preprocess=True, rngs=nnx.Rngs(0))
    assert len(load_applications_weights(ours, path)) == 14
    rgb = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    theirs = _keras_features(model, "block5_conv2", vgg19.preprocess_input(rgb * 255.0))
    _close(np.asarray(_apply(ours, rgb)), theirs)


@pytest.mark.parametrize("layout", ["keras3", "legacy"])
def test_mismatches_name_the_file_the_layer_and_the_shapes_and_write_nothing(vgg16, layout):
    _, files = vgg16
    narrow = VGGEncoder("vgg16", up_to="block2_pool", width=32, rngs=nnx.Rngs(0))
    before = np.asarray(narrow.block1_conv1.kernel[...]).copy()
    with pytest.raises(ValueError) as e:
        load_applications_weights(narrow, files[layout])
    msg = str(e.value)
    assert "block1_conv1 (Conv2D) kernel has shape (3, 3, 3, 32)" in msg
    assert "(3, 3, 3, 64)" in msg and str(files[layout]) in msg
    assert np.array_equal(narrow.block1_conv1.kernel[...], before)


def test_a_layer_the_file_lacks_is_named(vgg16):
    _, files = vgg16
    deeper = VGGEncoder("vgg19", up_to="block3_conv4", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"block3_conv4 \(Conv2D\) looks for layer 'block3_conv4' in .*which has none"):
        load_applications_weights(deeper, files["legacy"])


def test_a_keras3_file_with_too_few_layers_is_named(tmp_path):
    """A Keras 3 file has no layer names, only kinds in order: the count is what can be checked."""
    L = keras.layers
    convs = [L.Conv2D(64, 3, padding="same", activation="relu") for _ in range(2)]
    block1 = keras.Sequential([keras.Input((None, None, 3)), *convs])
    block1.save_weights(tmp_path / "block1.weights.h5")
    deeper = VGGEncoder("vgg16", up_to="block2_conv1", rngs=nnx.Rngs(0))
    with pytest.raises(
        ValueError, match=r"block2_conv1 \(Conv2D\) is the model's 'conv2d' layer number 3, but .* holds only 2"
    ):
        load_applications_weights(deeper, tmp_path / "block1.weights.h5")
    shallow = VGGEncoder("vgg16", up_to="block1_pool", rngs=nnx.Rngs(0))
    load_applications_weights(shallow, tmp_path / "block1.weights.h5")
    x = _inputs(size=8)
    _close(np.asarray(shallow.block1_conv2(shallow.block1_conv1(x))), np.asarray(block1(x)))
