"""Data files as an attacker or a bad network leaves them: planted pickles, a data_dir that
lacks the files, downloads that trickle or die, a half-extracted cache."""

import dataclasses
import hashlib
import http.server
import os
import pathlib
import pickle
import re
import shlex
import tarfile
import threading
import time

import numpy as np
import pytest

from cnnlab.data import DataUnavailableError, _download, load, sources
from cnnlab.data.dataset import KNOWN
from tests.data._files import cifar_python_batch, write_cifar_binary, write_cifar_python, write_idx_dir


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """No test sees the user's tfds directory, download cache, Debian install or network."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path_factory.mktemp("tfds")))
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion_mnist", str(tmp_path_factory.mktemp("debian")))


def _cifar(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def _digits(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


# --- 2. pickles: no code runs from a data file ---------------------------------------------


class _Payload:
    """Unpickling this runs ``how`` (os.system or exec), which creates ``marker``."""

    def __init__(self, marker, how):
        self.marker, self.how = str(marker), how

    def __reduce__(self):
        if self.how == "system":
            return os.system, (f"touch {shlex.quote(self.marker)}",)
        return exec, (f"open({self.marker!r}, 'w').close()",)


def _plant(directory, marker, how):
    """A cifar-10-batches-py/test_batch in ``directory`` that would create ``marker``."""
    d = directory / "cifar-10-batches-py"
    d.mkdir(parents=True)
    evil = _Payload(marker, how.removeprefix("nested-"))
    if how.startswith("nested-"):  # a well-formed batch whose labels hide the payload
        evil = {**cifar_python_batch(*_cifar(1, 0)), b"labels": [evil]}
    (d / "test_batch").write_bytes(pickle.dumps(evil, protocol=2))
    return d / "test_batch"


@pytest.mark.parametrize(
    "how, named",
    [("system", f"{os.name}.system"), ("exec", "__builtin__.exec"), ("nested-system", f"{os.name}.system")],
)
def test_malicious_pickle_in_data_dir_runs_no_code(tmp_path, how, named):
    marker = tmp_path / "pwned"
    planted = _plant(tmp_path / "data", marker, how)
    expected = f"{planted} is not a CIFAR-10 batch (UnpicklingError: it names {named}, which no CIFAR-10 batch holds)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        load("cifar10", "test", data_dir=tmp_path / "data")
    assert not marker.exists(), "code ran while reading a data file"


@pytest.mark.parametrize("source", ["auto", "download"])
def test_malicious_pickle_in_download_cache_is_never_opened(tmp_path, source):
    """The downloader fetches only the binary tarball, so python batches in the cache are never read."""
    marker = tmp_path / "pwned"
    _plant(pathlib.Path(_download.cache_dir("cifar10")), marker, "system")
    with pytest.raises(DataUnavailableError, match="download: offline: CNNLAB_OFFLINE=1 is set"):
        load("cifar10", "test", source=source)
    assert not marker.exists(), "code ran while reading the download cache"


def test_object_array_batch_is_refused(tmp_path):
    """An object array of small ints would cast to uint8 (N, 3072); it is not what a batch holds."""
    images, labels = _cifar(2, 0)
    batch = cifar_python_batch(images, labels)
    batch[b"data"] = batch[b"data"].astype(object)
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=r"test_batch is not a CIFAR-10 batch: b'data' is object"):
        load("cifar10", "test", data_dir=tmp_path)


@pytest.mark.parametrize("writer", ["python2", "pickle protocol 2", "pickle protocol 4"])
def test_well_formed_python_batches_still_load(tmp_path, writer):
    train, test = [_cifar(2, s) for s in range(5)], _cifar(3, 9)
    if writer == "python2":  # byte for byte the way the real batches were written
        write_cifar_python(tmp_path, train, test)
    else:
        d = tmp_path / "cifar-10-batches-py"
        d.mkdir()
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name, (x, y) in zip(names, [*train, test]):
            (d / name).write_bytes(pickle.dumps(cifar_python_batch(x, y), protocol=int(writer[-1])))
    ds = load("cifar10", "train", data_dir=tmp_path)
    np.testing.assert_array_equal(ds.images, np.concatenate([x for x, _ in train]))
    np.testing.assert_array_equal(ds.labels, np.concatenate([y for _, y in train]))
    ds = load("cifar10", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(ds.images, test[0])
    assert ds.source.startswith("CIFAR-10 python batches")


# --- 8. a named data_dir is the only source ------------------------------------------------


@pytest.fixture
def other_sources(monkeypatch, tmp_path_factory):
    """Debian's Fashion-MNIST and the offline MNIST subset both have data: nothing may come from them."""
    debian = tmp_path_factory.mktemp("debian_full")
    write_idx_dir(debian, {"train": _digits(4, 1), "test": _digits(2, 2)})
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion_mnist", str(debian))
    x, y = _digits(10, 3)
    monkeypatch.setattr(sources, "_embedded_digits", lambda: (x[..., None], y.astype(np.int32)))


def test_missing_data_dir_is_named(tmp_path, other_sources):
    with pytest.raises(ValueError, match=f"data_dir '{tmp_path / 'nope'}' is not a directory"):
        load("mnist", data_dir=tmp_path / "nope")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_empty_data_dir_fails_instead_of_using_another_source(tmp_path, name, other_sources):
    with pytest.raises(DataUnavailableError, match=f"data_dir {tmp_path} holds no {name} train files") as info:
        load(name, data_dir=tmp_path)
    assert "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz" in str(info.value)
    assert "it is empty" in str(info.value)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_data_dir_with_only_the_test_split(tmp_path, name, other_sources):
    x, y = _digits(3, 7)
    write_idx_dir(tmp_path, {"test": (x, y)})
    np.testing.assert_array_equal(load(name, "test", data_dir=tmp_path).labels, y)
    with pytest.raises(DataUnavailableError, match=f"data_dir {tmp_path} holds no {name} train files") as info:
        load(name, "train", data_dir=tmp_path)
    assert "it holds t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in str(info.value)


# --- 7. downloads that stall or die; a half-extracted cache ----------------------------------


@pytest.fixture
def trickle_url(monkeypatch):
    """An HTTP server that promises 100 kB and sends one byte every 0.2 s, for at most 8 s."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            end = time.monotonic() + 8.0
            try:
                while time.monotonic() < end:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:  # the client gave up, as it should
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slow.tar.gz"
    server.shutdown()
    server.server_close()


def test_a_trickling_download_is_abandoned(tmp_path, monkeypatch, trickle_url):
    monkeypatch.setattr(_download, "STALL_WINDOW_S", 1.0)  # 1 KiB per second, not per 30 s
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=f"{trickle_url} stalled: .* bytes in the last 1 s"):
        _download.fetch(trickle_url, "0" * 64, str(tmp_path))
    assert time.monotonic() - start < 4.0
    assert os.listdir(tmp_path) == [], "a partial file was left behind"


def test_an_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    src = tmp_path / "big.gz"
    src.write_bytes(b"x" * 5000)

    class Interrupting:
        def __init__(self, *args, **kwargs):
            self.calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read1(self, n):
            self.calls += 1
            if self.calls > 1:
                raise KeyboardInterrupt
            return b"x" * 100

        read = read1

    monkeypatch.setattr(_download.urllib.request, "urlopen", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        _download.fetch(src.as_uri(), "0" * 64, str(tmp_path / "cache"))
    assert os.listdir(tmp_path / "cache") == []


def test_a_killed_downloads_partial_file_is_cleaned_up(tmp_path):
    """SIGKILL runs no finally: the next fetch into that directory removes the stale .part."""
    src = tmp_path / "f.gz"
    src.write_bytes(b"abc")
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = cache / "f.gz.k1ll3d.part"
    stale.write_bytes(b"ab")
    old = time.time() - 2 * _download.LEFTOVER_AGE_S
    os.utime(stale, (old, old))
    _download.fetch(src.as_uri(), hashlib.sha256(b"abc").hexdigest(), str(cache))
    assert sorted(os.listdir(cache)) == ["f.gz"]


@pytest.fixture
def cifar_cache(tmp_path, monkeypatch):
    """CIFAR-10 downloaded once (2 images per batch) from a file:// tarball, then the network goes."""
    train, test = [_cifar(2, s) for s in range(5)], _cifar(2, 9)
    origin = tmp_path / "origin"
    origin.mkdir()
    write_cifar_binary(origin, train, test)
    tarball = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(origin / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    monkeypatch.setitem(KNOWN, "cifar10", dataclasses.replace(KNOWN["cifar10"], downloads=((tarball.as_uri(), sha),)))
    monkeypatch.delenv("CNNLAB_OFFLINE")
    assert len(load("cifar10", "train", source="download")) == 10
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    cache = _download.cache_dir("cifar10")
    return cache, np.concatenate([x for x, _ in train]), tarball


def test_half_extracted_cache_is_extracted_again(cifar_cache):
    """A kill mid-extraction: the last batch holds 1 of its 2 records, and no marker was written."""
    cache, train, _ = cifar_cache
    for f in os.listdir(cache):
        if f.endswith(".extracted"):
            os.remove(os.path.join(cache, f))
    last = os.path.join(cache, "cifar-10-batches-bin", "data_batch_5.bin")
    with open(last, "r+b") as f:
        f.truncate(3073)
    ds = load("cifar10", "train", source="download")
    np.testing.assert_array_equal(ds.images, train)


def test_cache_missing_a_file_is_repaired_from_the_tarball(cifar_cache):
    cache, train, _ = cifar_cache
    os.remove(os.path.join(cache, "cifar-10-batches-bin", "data_batch_3.bin"))
    np.testing.assert_array_equal(load("cifar10", "train", source="download").images, train)


def test_cache_missing_a_file_without_tarball_offline_says_so(cifar_cache):
    cache, _, tarball = cifar_cache
    os.remove(os.path.join(cache, "cifar-10-batches-bin", "data_batch_3.bin"))
    os.remove(os.path.join(cache, tarball.name))
    with pytest.raises(DataUnavailableError, match="download: offline: CNNLAB_OFFLINE=1 is set"):
        load("cifar10", "train", source="download")
