"""Files that are not weights files: a clear error naming the file and the format expected,
never a bare BadZipFile, KeyError or OSError, nor NumPy's advice to allow pickles."""

import re
import zipfile

import h5py
import numpy as np
import pytest
from flax import nnx

from cnnlab import nn
from cnnlab.interop import keras as kio
from cnnlab.interop import load_npz, save_npz

KERAS_FORMAT = "is not a Keras 3 weights file"


def _model():
    return nn.Sequential(nn.Dense(2, 3, rngs=nnx.Rngs(0)))


def _arrays(model):
    return [np.asarray(v[...]) for _, v in nnx.iter_graph(model) if isinstance(v, nnx.Param)]


def _refused(load, model, path, match, error=ValueError):
    """``load(model, path)`` raises ``error`` matching ``match`` and leaves the model as it was."""
    before = _arrays(model)
    with pytest.raises(error, match=match) as info:
        load(model, path)
    assert "allow_pickle" not in str(info.value)
    for a, b in zip(before, _arrays(model), strict=True):
        np.testing.assert_array_equal(a, b)
    return str(info.value)


def _zip(path, members: dict):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


GARBAGE = {
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(300)),
    "empty": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_keras_files(tmp_path, suffix, kind):
    path = tmp_path / f"w{suffix}"
    GARBAGE[kind](path)
    _refused(kio.load_weights, _model(), path, f"load_weights: '{re.escape(str(path))}' {KERAS_FORMAT}")


@pytest.mark.parametrize(
    "members",
    [{"readme.txt": b"hello"}, {"model.weights.h5": b"not hdf5"}, {"model.weights.h5": b""}],
    ids=["no-weights-member", "garbage-weights-member", "empty-weights-member"],
)
def test_zip_that_is_not_a_keras_file(tmp_path, members):
    path = tmp_path / "w.keras"
    _zip(path, members)
    _refused(kio.load_weights, _model(), path, f"'{re.escape(str(path))}' {KERAS_FORMAT}")


def _h5_plain(f):
    f["x"] = np.zeros(3)


def _h5_vars_is_a_dataset(f):
    f["layers/dense/vars"] = np.zeros((2, 3))


def _h5_vars_not_numbered(f):
    f["layers/dense/vars/kernel"] = np.zeros((2, 3), np.float32)


def _h5_var_is_a_group(f):
    f.create_group("layers/dense/vars/0/inner")
    f["layers/dense/vars/1"] = np.zeros(3, np.float32)


def _h5_strings(f):
    f["layers/dense/vars/0"] = np.full((2, 3), b"ab")
    f["layers/dense/vars/1"] = np.full(3, b"cd")


@pytest.mark.parametrize(
    "build, match",
    [
        (_h5_plain, f"{KERAS_FORMAT}: it holds no layer weights"),
        (_h5_vars_is_a_dataset, f"{KERAS_FORMAT}: layers/dense/vars is a dataset"),
        (_h5_vars_not_numbered, f"{KERAS_FORMAT}: layers/dense/vars holds \\['kernel'\\]"),
        (_h5_var_is_a_group, f"{KERAS_FORMAT}: layers/dense/vars/0 is a group"),
        (_h5_strings, r"0 \(Dense\) kernel has dtype \|S2 in 'layers/dense'; weights must be floating point"),
    ],
    ids=["no-layers", "vars-dataset", "vars-not-numbered", "var-group", "strings"],
)
def test_h5_with_the_wrong_structure(tmp_path, build, match):
    path = tmp_path / "w.weights.h5"
    with h5py.File(path, "w") as f:
        build(f)
    _refused(kio.load_weights, _model(), path, match)


def test_integer_weights_are_not_cast_silently():
    weights = [np.ones((2, 3), np.int64), np.zeros(3, np.float32)]
    _refused(kio.load_weights, _model(), weights, r"kernel has dtype int64 in list entry 0; weights must be floating")


# --- npz ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_npz(tmp_path, kind):
    path = tmp_path / "w.npz"
    GARBAGE[kind](path)
    _refused(load_npz, _model(), path, f"load_npz: '{re.escape(str(path))}' is not an .npz weights file")


def _resave(tmp_path, change):
    """A `save_npz` file of `_model()` with one array replaced by `change(array)`."""
    path = tmp_path / "w.npz"
    save_npz(_model(), path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    key = sorted(arrays)[-1]
    arrays[key] = change(arrays[key])
    np.savez(path, **arrays)
    return path, key


def test_npz_with_an_object_array(tmp_path):
    path, key = _resave(tmp_path, lambda a: a.astype(object))
    msg = _refused(load_npz, _model(), path, f"load_npz: '{re.escape(str(path))}' is not an .npz weights file")
    assert key in msg and "object" in msg


def test_npz_with_integer_weights_is_not_cast_silently(tmp_path):
    path, key = _resave(tmp_path, lambda a: a.astype(np.int32))
    _refused(load_npz, _model(), path, f"load_npz: {key} has dtype int32 in the file; weights must be floating point")


def test_zip_with_a_raw_member_is_not_an_npz(tmp_path):
    path = tmp_path / "w.npz"
    save_npz(_model(), path)
    with np.load(path) as f:
        keys = f.files
    _zip(path, {keys[0]: b"raw bytes, not .npy", **{k + ".npy": b"" for k in keys[1:]}})
    _refused(load_npz, _model(), path, f"load_npz: '{re.escape(str(path))}' is not an .npz weights file")
