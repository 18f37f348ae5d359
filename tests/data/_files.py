"""Independent writers for the file formats, packed by hand from the format specs.

They share no code with cnnlab.data, so a reader bug cannot hide behind a matching writer.
"""

import gzip
import io
import pickle
import struct

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX per LeCun's MNIST page: 0x00 0x00 0x08 NDIM, big-endian uint32 dims, uint8 data."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes(order="C")


def write_idx_dir(directory, split_arrays: dict, *, gz: bool = True) -> None:
    """Writes {split: (images (N, H, W), labels (N,))} as MNIST-named IDX files."""
    prefix = {"train": "train", "test": "t10k"}
    for split, (images, labels) in split_arrays.items():
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            path = directory / f"{prefix[split]}-{kind}-ubyte{'.gz' if gz else ''}"
            data = idx_bytes(arr)
            path.write_bytes(gzip.compress(data) if gz else data)


class _Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle did at protocol 2, the way the real CIFAR-10 batches were
    written: byte and text strings as py2 ``str`` (SHORT_BINSTRING/BINSTRING), NumPy's array
    reconstructor under its NumPy 1 name ``numpy.core.multiarray._reconstruct``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_str8(self, obj):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n))
        self.write(obj)
        self.memoize(obj)

    def _save_text(self, obj):
        self._save_str8(obj.encode("latin1"))

    dispatch[bytes] = _save_str8
    dispatch[str] = _save_text

    def save_global(self, obj, name=None):
        if (name or obj.__name__) == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj) -> bytes:
    """``obj`` pickled as Python 2 wrote the CIFAR-10 batches (see `_Py2Pickler`)."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def cifar_python_batch(images, labels, label="batch") -> dict:
    """One batch as the CIFAR-10 page describes it: b'data' uint8 (N, 3072) CHW rows, b'labels' ints."""
    rows = np.asarray(images, np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    return {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": rows,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }


def write_cifar_python(directory, train: list, test) -> None:
    """CIFAR-10 python batches, pickled as the real ones are (Python 2, protocol 2, bytes keys)."""
    d = directory / "cifar-10-batches-py"
    d.mkdir()
    batches = [(f"data_batch_{i + 1}", b) for i, b in enumerate(train)] + [("test_batch", test)]
    for name, (images, labels) in batches:
        (d / name).write_bytes(py2_pickle(cifar_python_batch(images, labels, name)))


def write_cifar_binary(directory, train: list, test) -> None:
    """CIFAR-10 binary batches: records of 1 label byte then 3072 CHW pixel bytes."""
    d = directory / "cifar-10-batches-bin"
    d.mkdir()
    batches = [(f"data_batch_{i + 1}.bin", b) for i, b in enumerate(train)] + [("test_batch.bin", test)]
    for name, (images, labels) in batches:
        out = bytearray()
        for img, lab in zip(images, labels):
            out += bytes([int(lab)]) + np.asarray(img, np.uint8).transpose(2, 0, 1).tobytes()
        (d / name).write_bytes(bytes(out))
