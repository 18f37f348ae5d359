"""Independent writers for the file formats, packed by hand from the format specs.

They share no code with cnnlab.data, so a reader bug cannot hide behind a matching writer.
"""

import gzip
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


def write_cifar_python(directory, train: list, test) -> None:
    """CIFAR-10 python batches: pickled dicts with b'data' (N, 3072) CHW rows and b'labels'."""
    d = directory / "cifar-10-batches-py"
    d.mkdir()
    batches = [(f"data_batch_{i + 1}", b) for i, b in enumerate(train)] + [("test_batch", test)]
    for name, (images, labels) in batches:
        rows = np.asarray(images, np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
        with open(d / name, "wb") as f:
            pickle.dump({b"data": rows, b"labels": [int(v) for v in labels]}, f)


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
