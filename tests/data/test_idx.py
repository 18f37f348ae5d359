"""read_idx / parse_idx against hand-packed bytes, and every corruption case."""

import gzip
import struct

import numpy as np
import pytest

from cnnlab.data import parse_idx, read_idx
from tests.data._files import idx_bytes


def test_literal_images_and_labels():
    # 2 images of 2x3, written out byte by byte.
    data = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))
    got = parse_idx(data)
    np.testing.assert_array_equal(got, np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    assert got.dtype == np.uint8
    labels = parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 4, 7, 0, 9, 1]))
    np.testing.assert_array_equal(labels, [7, 0, 9, 1])


def test_big_endian_int32_type():
    data = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + struct.pack(">ii", 258, -5)
    np.testing.assert_array_equal(parse_idx(data), [258, -5])


@pytest.mark.parametrize("gz", [False, True])
def test_read_file_plain_and_gzipped(tmp_path, gz):
    arr = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    path = tmp_path / ("x-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(idx_bytes(arr)) if gz else idx_bytes(arr))
    np.testing.assert_array_equal(read_idx(path), arr)


def test_wrong_magic_number():
    data = bytearray(idx_bytes(np.zeros((2, 2), np.uint8)))
    data[0] = 0x1F  # e.g. a gzip file read without gunzipping
    with pytest.raises(ValueError, match="magic number 0x1f000802"):
        parse_idx(bytes(data))
    with pytest.raises(ValueError, match="magic number"):
        parse_idx(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]))  # unknown type code


@pytest.mark.parametrize("delta", [-1, -7, +1])
def test_size_not_matching_header(delta):
    data = idx_bytes(np.zeros((3, 2, 2), np.uint8))
    data = data[:delta] if delta < 0 else data + b"\x00" * delta
    with pytest.raises(
        ValueError, match=rf"has {12 + delta} payload bytes but its header \(3, 2, 2\) of uint8 needs 12"
    ):
        parse_idx(data, name="f")


def test_header_itself_truncated():
    with pytest.raises(ValueError, match="at least 4"):
        parse_idx(b"\x00\x00")
    with pytest.raises(ValueError, match="less than its 16-byte header"):
        parse_idx(bytes([0, 0, 8, 3, 0, 0, 0, 2]))


def test_truncated_gzip(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.ones((10, 28, 28), np.uint8)))[:-20])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        read_idx(path)
