"""Datasets from local files: MNIST-style IDX, Keras-style ``.npz``, CIFAR-10 batches.

Each reader returns ``None`` when the directory holds no files of its kind for the split
(so the next source may be tried), and raises ``ValueError`` when it finds files that are
incomplete or damaged (so a broken download is never mistaken for a small dataset).

CIFAR-10 python batches are pickles, and unpickling runs whatever code the file names. They
are read with `_BatchUnpickler`, which admits only what the real batches hold, and never
from the download cache (the downloader fetches the binary tarball).
"""

import codecs
import os
import pickle

import numpy as np

from cnnlab.data._idx import read_idx
from cnnlab.data.dataset import KNOWN

_reconstruct = np.zeros(0).__reduce__()[0]  # NumPy's array reconstructor, under any NumPy version

_IDX_PREFIX = {"train": "train", "test": "t10k"}
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_RECORD = 1 + 32 * 32 * 3  # label byte + CHW pixels, per the CIFAR-10 page


def idx_file_names(split: str) -> tuple[str, str]:
    """The canonical gzipped IDX names for a split, images first."""
    p = _IDX_PREFIX[split]
    return f"{p}-images-idx3-ubyte.gz", f"{p}-labels-idx1-ubyte.gz"


def _find(directory: str, stems: list[str]) -> str | None:
    """The first existing ``stem`` or ``stem.gz`` in ``directory``."""
    for stem in stems:
        for candidate in (stem, stem + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return path
    return None


def _pair(images: np.ndarray, labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Checks one images/labels pair and brings it to uint8 NHWC and int32."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(
            f"load: images in {where} are {images.dtype} {images.shape}; need uint8 (N, H, W) or (N, H, W, C)"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"load: labels in {where} are {labels.dtype} {labels.shape}; need integers (N,)")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"load: {where} holds {images.shape[0]} images but {labels.shape[0]} labels; "
            "the files do not belong together or one is truncated"
        )
    return np.ascontiguousarray(images), labels.astype(np.int32)


def _read_idx_pair(directory: str, split: str):
    p = _IDX_PREFIX[split]
    image_path = _find(directory, [f"{p}-images-idx3-ubyte", f"{p}-images.idx3-ubyte"])
    label_path = _find(directory, [f"{p}-labels-idx1-ubyte", f"{p}-labels.idx1-ubyte"])
    if image_path is None and label_path is None:
        return None
    if image_path is None or label_path is None:
        images_name, labels_name = idx_file_names(split)
        have, missing, wanted = (
            (label_path, "images", images_name) if image_path is None else (image_path, "labels", labels_name)
        )
        raise ValueError(f"load: found {have} but no matching {missing} file ({wanted}) in {directory}")
    images, labels = _pair(read_idx(image_path), read_idx(label_path), f"{image_path} + {label_path}")
    return images, labels, f"IDX files {image_path}, {label_path}"


def _read_npz(name: str, directory: str, split: str):
    path = os.path.join(directory, f"{name}.npz")
    if not os.path.isfile(path):
        return None
    keys = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}[split]
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as e:  # BadZipFile, OSError, EOFError, ...: all mean "not a usable npz"
        raise ValueError(f"load: cannot read {path} as an npz archive ({type(e).__name__}: {e})") from e
    with archive as z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise ValueError(
                f"load: {path} lacks {missing}; a Keras-style npz has x_train, y_train, "
                f"x_test, y_test; it has {sorted(z.files)}"
            )
        try:
            images, labels = z[keys[0]], z[keys[1]]
        except Exception as e:
            raise ValueError(f"load: {path} is damaged ({type(e).__name__}: {e})") from e
    images, labels = _pair(images, labels, path)
    return images, labels, f"npz file {path}"


def _cifar_dir(directory: str, sub: str, probe: str) -> str | None:
    for d in (os.path.join(directory, sub), directory):
        if os.path.isfile(os.path.join(d, probe)):
            return d
    return None


def _latin1(text: str, encoding: str) -> bytes:
    """Python 3's protocol-2 pickles spell ``bytes`` as ``_codecs.encode(text, 'latin1')``."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}")
    return codecs.encode(text, "latin1")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 python batch and nothing else: no class or function can be named
    but NumPy's array reconstruction (the dict, lists, ints and byte strings need none)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # as Python 2 wrote the batches
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # as NumPy 2 writes them
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1,  # bytes in a Python 3 protocol-2 pickle
    }

    def find_class(self, module, name):
        found = self.ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which no CIFAR-10 batch holds")
        return found


def _unpickle_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(data uint8 (N, 3072), labels (N,))`` of one python batch, or ValueError naming ``path``."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except Exception as e:  # UnpicklingError, EOFError, a NumPy state error, ...
        why = f"{type(e).__name__}: {e}"
        raise ValueError(f"load: {path} is not a CIFAR-10 batch ({why}); nothing in it was run") from e
    if not isinstance(batch, dict) or not {b"data", b"labels"} <= batch.keys():
        got = f"keys {list(batch)[:6]}" if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"load: {path} is not a CIFAR-10 batch: need a dict with b'data' and b'labels', got {got}")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"load: {path} is not a CIFAR-10 batch: b'data' is {what}; need uint8 (N, 3072)")
    if isinstance(labels, list) and all(type(v) is int and 0 <= v < 2**31 for v in labels):
        labels = np.array(labels, dtype=np.int64)
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise ValueError(f"load: {path} is not a CIFAR-10 batch: b'labels' must be a list of class numbers")
    return data, labels


def _read_cifar_python(directory: str, split: str):
    d = _cifar_dir(directory, "cifar-10-batches-py", "test_batch" if split == "test" else "data_batch_1")
    if d is None:
        return None
    names = ("test_batch",) if split == "test" else _CIFAR_TRAIN
    images, labels = [], []
    for n in names:
        path = os.path.join(d, n)
        if not os.path.isfile(path):
            raise ValueError(f"load: CIFAR-10 batch {path} is missing; the train split needs {list(names)}")
        data, lab = _unpickle_batch(path)
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(lab)
    x, y = _pair(np.concatenate(images), np.concatenate(labels), d)
    return x, y, f"CIFAR-10 python batches in {d}"


def _read_cifar_binary(directory: str, split: str):
    probe = "test_batch.bin" if split == "test" else "data_batch_1.bin"
    d = _cifar_dir(directory, "cifar-10-batches-bin", probe)
    if d is None:
        return None
    names = ("test_batch",) if split == "test" else _CIFAR_TRAIN
    records = []
    for n in names:
        path = os.path.join(d, n + ".bin")
        if not os.path.isfile(path):
            raise ValueError(f"load: CIFAR-10 batch {path} is missing; the {split} split needs {list(names)}")
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % _CIFAR_RECORD:
            raise ValueError(
                f"load: {path} has {raw.size} bytes, not a positive multiple of the "
                f"{_CIFAR_RECORD}-byte CIFAR-10 record; the file is truncated or corrupted"
            )
        records.append(raw.reshape(-1, _CIFAR_RECORD))
    r = np.concatenate(records)
    x = r[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    x, y = _pair(x, r[:, 0], d)
    return x, y, f"CIFAR-10 binary batches in {d}"


def read_dir(name: str, split: str, directory: str, *, downloaded: bool = False):
    """Reads ``name``/``split`` from the files in ``directory``.

    Args:
      downloaded: ``directory`` is the download cache: read only the formats the downloader
        fetches (gzipped IDX, CIFAR-10 binary batches), never a pickle or an npz planted there.

    Returns:
      ``(images uint8 (N, H, W, C), labels int32 (N,), description)``, or ``None`` when the
      directory holds no files for this dataset and split.

    Raises:
      ValueError: files are present but truncated, corrupted, mismatched or incomplete.
    """
    if name in ("mnist", "fashion_mnist"):
        readers = (lambda: _read_idx_pair(directory, split), lambda: _read_npz(name, directory, split))
    elif name == "cifar10":
        readers = (
            lambda: _read_cifar_binary(directory, split),
            lambda: _read_cifar_python(directory, split),
            lambda: _read_npz(name, directory, split),
        )
    else:
        return None
    # The first reader is the format the downloader fetches; binary before pickles for CIFAR-10.
    for read in readers[:1] if downloaded else readers:
        found = read()
        if found is not None:
            images, labels, where = found
            want = KNOWN[name].image_shape
            if images.shape[1:] != want:
                raise ValueError(
                    f"load: {where} holds images of shape {images.shape[1:]}; {name} images "
                    f"are {want}: is this the right directory for {name}?"
                )
            return found
    return None


def describe_files(name: str, split: str) -> str:
    """In words, the files that ``read_dir`` looks for."""
    if name == "cifar10":
        return (
            "the CIFAR-10 python batches (cifar-10-batches-py/data_batch_1..5, test_batch) or "
            "binary batches (cifar-10-batches-bin/*.bin), from https://www.cs.toronto.edu/~kriz/cifar.html"
        )
    images, labels = idx_file_names(split)
    return f"{images} and {labels} (IDX, gzipped or not), or a Keras-style {name}.npz"
