"""load(): local files written here, tfds under mock_data, the fast offline failure, every error."""

import dataclasses
import gzip
import hashlib
import os
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnlab.data import Dataset, DataUnavailableError, _download, load, sources
from cnnlab.data.dataset import KNOWN
from tests.data._files import write_cifar_binary, write_cifar_python, write_idx_dir

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """No test sees the user's tfds directory, download cache or network."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path_factory.mktemp("tfds")))
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")


def _digits(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


# --- files -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_directory(tmp_path, name, gz):
    train, test = _digits(7, 1), _digits(3, 2)
    write_idx_dir(tmp_path, {"train": train, "test": test}, gz=gz)
    for split, (x, y) in (("train", train), ("test", test)):
        ds = load(name, split, data_dir=tmp_path)  # auto: files come first
        np.testing.assert_array_equal(ds.images, x[..., None])
        np.testing.assert_array_equal(ds.labels, y)
        assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int32
        assert ds.class_names == KNOWN[name].class_names and (ds.name, ds.split) == (name, split)
        assert "IDX files" in ds.source and str(tmp_path) in ds.source


def test_keras_npz(tmp_path):
    (xtr, ytr), (xte, yte) = _digits(6, 3), _digits(4, 4)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=ytr.astype(np.int64), x_test=xte, y_test=yte)
    ds = load("mnist", "test", data_dir=tmp_path, source="files")
    np.testing.assert_array_equal(ds.images[..., 0], xte)
    np.testing.assert_array_equal(ds.labels, yte)
    assert "npz" in ds.source


def _cifar(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.mark.parametrize("writer", [write_cifar_python, write_cifar_binary])
def test_cifar_batches(tmp_path, writer):
    train = [_cifar(2, s) for s in range(5)]
    test = _cifar(3, 9)
    writer(tmp_path, train, test)
    ds = load("cifar10", "train", data_dir=tmp_path)
    np.testing.assert_array_equal(ds.images, np.concatenate([b[0] for b in train]))
    np.testing.assert_array_equal(ds.labels, np.concatenate([b[1] for b in train]))
    ds = load("cifar10", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(ds.images, test[0])
    assert ds.class_names[0] == "airplane" and ds.images.shape == (3, 32, 32, 3)


def test_cifar_missing_batch_is_an_error_not_a_short_dataset(tmp_path):
    write_cifar_python(tmp_path, [_cifar(2, s) for s in range(5)], _cifar(2, 9))
    os.remove(tmp_path / "cifar-10-batches-py" / "data_batch_4")
    with pytest.raises(ValueError, match="data_batch_4 is missing"):
        load("cifar10", data_dir=tmp_path)


def test_cifar_binary_truncated(tmp_path):
    write_cifar_binary(tmp_path, [_cifar(2, s) for s in range(5)], _cifar(2, 9))
    path = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a positive multiple of the 3073-byte"):
        load("cifar10", "test", data_dir=tmp_path)


# --- corrupted and mismatched files ------------------------------------------------------


def test_truncated_idx_file(tmp_path):
    write_idx_dir(tmp_path, {"train": _digits(5, 0)})
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-28]))  # one row short
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz has 3892 payload bytes .* needs 3920"):
        load("mnist", data_dir=tmp_path)


def test_wrong_magic_in_directory(tmp_path):
    write_idx_dir(tmp_path, {"train": _digits(5, 0)}, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + path.read_bytes()[4:])  # an images magic on labels
    with pytest.raises(ValueError, match="declares 3 dimensions but holds only 13 bytes"):
        load("mnist", data_dir=tmp_path)
    path.write_bytes(b"PK\x03\x04" + path.read_bytes()[4:])
    with pytest.raises(ValueError, match="magic number 0x504b0304"):
        load("mnist", data_dir=tmp_path)


def test_image_and_label_counts_differ(tmp_path):
    images, _ = _digits(5, 0)
    _, labels = _digits(4, 0)
    write_idx_dir(tmp_path, {"train": (images, labels)})
    with pytest.raises(ValueError, match="holds 5 images but 4 labels"):
        load("mnist", data_dir=tmp_path)


def test_labels_file_missing(tmp_path):
    write_idx_dir(tmp_path, {"train": _digits(5, 0)})
    os.remove(tmp_path / "train-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match="no matching labels file"):
        load("mnist", data_dir=tmp_path)


def test_wrong_image_shape_for_dataset(tmp_path):
    write_idx_dir(tmp_path, {"train": (np.zeros((2, 32, 32), np.uint8), np.zeros(2, np.uint8))})
    with pytest.raises(ValueError, match=r"\(32, 32, 1\); mnist images are \(28, 28, 1\)"):
        load("mnist", data_dir=tmp_path)


def test_label_out_of_range(tmp_path):
    write_idx_dir(tmp_path, {"train": (np.zeros((2, 28, 28), np.uint8), np.array([3, 10], np.uint8))})
    with pytest.raises(ValueError, match=r"labels span \[3, 10\] but there are 10 class names"):
        load("mnist", data_dir=tmp_path)


def test_npz_damaged_or_incomplete(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="cannot read .*mnist.npz"):
        load("mnist", data_dir=tmp_path)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"lacks \['y_train'\]"):
        load("mnist", data_dir=tmp_path)


# --- bad arguments -----------------------------------------------------------------------


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnsit'; known: \['cifar10', 'fashion_mnist', 'mnist'\]"):
        load("mnsit")


def test_tfds_name_without_images_is_rejected():
    with pytest.raises(ValueError, match="needs 'image'"):
        load("imdb_reviews")


@pytest.mark.parametrize("split", ["validation", "TRAIN", "train[:10%]"])
def test_unknown_split(split):
    with pytest.raises(ValueError, match=r"unknown split .* known: \['train', 'test'\]"):
        load("mnist", split)


def test_bad_source_and_data_dir(tmp_path):
    with pytest.raises(ValueError, match=r"unknown source 'internet'; choose 'auto' or one of"):
        load("mnist", source="internet")
    with pytest.raises(ValueError, match="is not a directory"):
        load("mnist", data_dir=tmp_path / "nope")
    with pytest.raises(ValueError, match="set TFDS_DATA_DIR instead"):
        load("mnist", data_dir=tmp_path, source="tfds")


def test_dataset_record_validates():
    x = np.zeros((3, 2, 2, 1), np.uint8)
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        Dataset(x, np.zeros(2, np.int32), ("a",), "here")
    with pytest.raises(TypeError, match="labels must be an int32"):
        Dataset(x, np.zeros(3, np.int64), ("a",), "here")
    with pytest.raises(TypeError, match="images must be a uint8"):
        Dataset(x.astype(np.float32), np.zeros(3, np.int32), ("a",), "here")
    ds = Dataset(x, np.zeros(3, np.int32), ("a",), "here")
    with pytest.raises(ValueError, match="read-only"):
        ds.images[0, 0, 0, 0] = 1


# --- tfds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tfds_source_under_mock_data(name, shape):
    with tfds.testing.mock_data(num_examples=9):
        ds = load(name, "test")  # auto: no data_dir, so tfds answers first
        oracle = tfds.data_source(name, split="test")
        expected_images = np.stack([oracle[i]["image"] for i in range(9)])
        expected_labels = np.array([oracle[i]["label"] for i in range(9)])
    assert ds.images.shape == (9, *shape) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, expected_images)
    np.testing.assert_array_equal(ds.labels, expected_labels)
    assert ds.class_names == KNOWN[name].class_names
    assert ds.source.startswith(f"tensorflow-datasets {name}")


def test_tfds_other_image_dataset_under_mock_data():
    with tfds.testing.mock_data(num_examples=4):
        ds = load("svhn_cropped", "test", source="tfds")
    assert ds.images.shape == (4, 32, 32, 3) and ds.num_classes == 10


def test_tfds_not_prepared_is_skipped_with_reason():
    with pytest.raises(DataUnavailableError, match=r"tfds: not prepared in .*tfds"):
        load("cifar10", source="tfds")


# --- download: real fetch code over file:// URLs, and the offline probe -------------------


def test_download_source_fetches_verifies_and_caches(tmp_path, monkeypatch):
    origin = tmp_path / "origin"
    origin.mkdir()
    (xtr, ytr), (xte, yte) = _digits(4, 5), _digits(2, 6)
    write_idx_dir(origin, {"train": (xtr, ytr), "test": (xte, yte)})
    downloads = tuple((p.as_uri(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(origin.iterdir()))
    monkeypatch.setitem(KNOWN, "mnist", dataclasses.replace(KNOWN["mnist"], downloads=downloads))
    monkeypatch.delenv("CNNLAB_OFFLINE")
    ds = load("mnist", "test", source="download")
    np.testing.assert_array_equal(ds.images[..., 0], xte)
    assert "downloaded from file://" in ds.source
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")  # now only the cache can answer
    ds = load("mnist", "train", source="download")
    np.testing.assert_array_equal(ds.labels, ytr)
    assert ds.source.startswith("downloaded copy")


def test_download_source_extracts_cifar_tarball(tmp_path, monkeypatch):
    import tarfile

    train, test = [_cifar(1, s) for s in range(5)], _cifar(2, 9)
    write_cifar_binary(tmp_path, train, test)
    tarball = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    monkeypatch.setitem(KNOWN, "cifar10", dataclasses.replace(KNOWN["cifar10"], downloads=((tarball.as_uri(), sha),)))
    monkeypatch.delenv("CNNLAB_OFFLINE")
    ds = load("cifar10", "test", source="download")
    np.testing.assert_array_equal(ds.images, test[0])
    np.testing.assert_array_equal(ds.labels, test[1])


def test_fetch_rejects_a_wrong_checksum(tmp_path):
    src = tmp_path / "f.gz"
    src.write_bytes(b"abc")
    with pytest.raises(ValueError, match="has sha256 ba7816bf"):
        _download.fetch(src.as_uri(), "0" * 64, str(tmp_path / "cache"))
    assert not (tmp_path / "cache" / "f.gz").exists()
    assert os.listdir(tmp_path / "cache") == []  # no half-written leftovers


@pytest.fixture
def hanging_url():
    """A local port whose connect hangs: a listener with a full backlog drops new SYNs."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    held = socket.create_connection(("127.0.0.1", port))  # fills the backlog of one
    yield f"http://127.0.0.1:{port}/file.tar.gz"
    held.close()
    server.close()


def test_probe_is_fast_and_right(hanging_url):
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        assert _download.unreachable([f"http://127.0.0.1:{port}/x"], timeout=2.0) is None
    finally:
        server.close()
    assert "cannot reach no-such-host.invalid:443" in _download.unreachable(["https://no-such-host.invalid/b"])
    start = time.monotonic()
    reason = _download.unreachable([hanging_url, "https://no-such-host.invalid/b"], timeout=1.0)
    assert reason is not None and "cannot reach" in reason
    assert time.monotonic() - start < 10.0  # ~1 s: hosts are probed in parallel, DNS included


def test_offline_failure_is_fast_and_says_what_to_do(monkeypatch, hanging_url):
    monkeypatch.delenv("CNNLAB_OFFLINE")  # exercise the real network probe, not the shortcut
    hanging = ((hanging_url, "0" * 64),)  # as a dead network looks: connect never answers
    monkeypatch.setitem(KNOWN, "cifar10", dataclasses.replace(KNOWN["cifar10"], downloads=hanging))
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        load("cifar10")
    assert time.monotonic() - start < 30.0
    msg = str(info.value)
    for tried in (
        "files: no data_dir given",
        "tfds: not prepared",
        "debian:",
        "download: offline: cannot reach",
        "offline: there is no embedded offline copy of cifar10",
    ):
        assert tried in msg
    for advice in (
        "data_dir=DIR",
        "cifar-10-batches-py",
        "TFDS_DATA_DIR",
        "--file_format=array_record",
        "CNNLAB_CACHE_DIR",
    ):
        assert advice in msg


def test_failed_download_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNLAB_OFFLINE")
    missing = ((tmp_path.joinpath("gone.tar.gz").as_uri(), "0" * 64),)
    monkeypatch.setitem(KNOWN, "cifar10", dataclasses.replace(KNOWN["cifar10"], downloads=missing))
    with pytest.raises(DataUnavailableError, match=r"download: fetching file://.*gone.tar.gz failed \(URLError"):
        load("cifar10", source="download")


def test_mnist_failure_names_the_files_and_the_embedded_subset(monkeypatch):
    def no_embedded_digits():
        raise FileNotFoundError("mnist_5k.npz")

    monkeypatch.setattr(sources, "_embedded_digits", no_embedded_digits)
    with pytest.raises(DataUnavailableError) as info:
        load("mnist")
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz" in msg
    assert "offline: cnnlab/data/mnist_5k.npz is missing from this install (reinstall cnnlab)" in msg
    assert "download: offline: CNNLAB_OFFLINE=1 is set" in msg


def test_debian_source_reads_its_directory(tmp_path, monkeypatch):
    write_idx_dir(tmp_path, {"test": _digits(3, 7)})
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion_mnist", str(tmp_path))
    ds = load("fashion_mnist", "test", source="debian")
    np.testing.assert_array_equal(ds.labels, _digits(3, 7)[1])
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion_mnist", str(tmp_path / "absent"))
    with pytest.raises(DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
        load("fashion_mnist", "test", source="debian")


@pytest.fixture
def http_origin(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path/origin``: the online path end to end."""
    import functools
    import http.server
    import threading

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    origin = tmp_path / "origin"
    origin.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(origin))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield origin, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_mnist_online_downloads_over_http_before_the_offline_subset(http_origin, monkeypatch):
    """With the network up, ``load("mnist")`` takes the full set from the mirror, not the embedded subset."""
    origin, base = http_origin
    (xtr, ytr), (xte, yte) = _digits(6, 11), _digits(3, 12)
    write_idx_dir(origin, {"train": (xtr, ytr), "test": (xte, yte)})
    downloads = tuple((base + p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(origin.iterdir()))
    assert all(url.endswith(".gz") for url, _ in downloads) and len(downloads) == 4
    monkeypatch.setitem(KNOWN, "mnist", dataclasses.replace(KNOWN["mnist"], downloads=downloads))
    monkeypatch.delenv("CNNLAB_OFFLINE")
    ds = load("mnist")  # auto: files, tfds and debian have nothing; download comes before offline
    np.testing.assert_array_equal(ds.images[..., 0], xtr)
    np.testing.assert_array_equal(ds.labels, ytr)
    assert ds.source.startswith(f"downloaded from {base}")
    cached = sorted(os.listdir(_download.cache_dir("mnist")))
    assert [c for c in cached if not c.startswith(".")] == sorted(p.name for p in origin.iterdir())
    for p in origin.iterdir():  # the mirror goes away: the verified cache still answers
        p.unlink()
    ds = load("mnist", "test")
    np.testing.assert_array_equal(ds.images[..., 0], xte)
    assert ds.source.startswith("downloaded copy")


def test_http_error_is_reported_with_the_url(http_origin, monkeypatch):
    _, base = http_origin
    missing = ((base + "cifar-10-binary.tar.gz", "0" * 64),)
    monkeypatch.setitem(KNOWN, "cifar10", dataclasses.replace(KNOWN["cifar10"], downloads=missing))
    monkeypatch.delenv("CNNLAB_OFFLINE")
    expected = r"download: fetching http://127\.0\.0\.1:\d+/cifar-10-binary.tar.gz failed \(HTTPError: HTTP Error 404"
    with pytest.raises(DataUnavailableError, match=expected):
        load("cifar10")
    assert not any(f.endswith(".part") for f in os.listdir(_download.cache_dir("cifar10")))
