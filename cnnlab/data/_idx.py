"""The IDX file format of MNIST and Fashion-MNIST, read strictly.

An IDX file is a 4-byte magic number ``0x00 0x00 TYPE NDIM``, then ``NDIM`` big-endian
uint32 dimensions, then the values in row-major order (LeCun's MNIST page). A file
whose payload does not match its header is an error here, never a short array.
"""

import gzip
import os
import zlib

import numpy as np

# Type codes from the MNIST page: the third byte of the magic number.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when the name ends in .gz; ValueError if the gzip is damaged."""
    if not path.endswith(".gz"):
        with open(path, "rb") as f:
            return f.read()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, OSError, zlib.error) as e:
        raise ValueError(
            f"read_idx: {path} is not a complete gzip file ({type(e).__name__}: {e}); "
            "the download was probably cut short: delete it and fetch it again"
        ) from e


def parse_idx(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Parses the bytes of one IDX file.

    Args:
      data: the whole (uncompressed) file.
      name: what to call the data in error messages (usually its path).

    Returns:
      The array, shape as in the header (e.g. ``(60000, 28, 28)`` for images, ``(60000,)``
      for labels), in native byte order; ``uint8`` for the MNIST files.

    Raises:
      ValueError: the magic number is wrong, or the payload is shorter or longer than
        the header says.
    """
    if len(data) < 4:
        raise ValueError(f"read_idx: {name} has {len(data)} bytes; an IDX file needs at least 4")
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"read_idx: {name} has magic number 0x{data[:4].hex()}; an IDX file starts with "
            f"0x0000TTNN (TT a type code in {sorted(hex(t) for t in _IDX_DTYPES)}, NN >= 1 "
            "dimensions), e.g. 0x00000803 for images, 0x00000801 for labels"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"read_idx: {name} declares {ndim} dimensions but holds only {len(data)} bytes, "
            f"less than its {header}-byte header"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != needed:
        raise ValueError(
            f"read_idx: {name} has {got} payload bytes but its header {shape} of "
            f"{dtype.name} needs {needed}; the file is truncated or corrupted"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (``train-images-idx3-ubyte``, optionally ``.gz``).

    Args:
      path: the file; gunzipped on the fly when its name ends in ``.gz``.

    Returns:
      The array with the header's shape, e.g. ``(N, 28, 28)`` uint8 images or ``(N,)``
      uint8 labels.

    Raises:
      ValueError: wrong magic number, a payload that does not match the header, or a
        damaged gzip stream.
    """
    path = os.fspath(path)
    return parse_idx(_read_bytes(path), name=path)
