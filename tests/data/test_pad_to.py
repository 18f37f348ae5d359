"""cnnlab.data.pad_to: images centred in zeros, the odd pixel at the bottom/right."""

import numpy as np
import pytest

from cnnlab import data


def test_pad_to_centres_images_in_zeros():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, size=(3, 28, 27, 2), dtype=np.uint8)
    y = data.pad_to(x, 32)
    expected = np.zeros((3, 32, 32, 2), np.uint8)
    expected[:, 2:30, 2:29, :] = x  # 4 rows: 2 + 2; 5 columns: 2 left, the odd one right (Keras SAME)
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, expected)


def test_pad_to_the_same_size_is_the_identity_and_floats_keep_their_dtype():
    x = np.random.default_rng(1).random((2, 5, 5, 1)).astype(np.float32)
    np.testing.assert_array_equal(data.pad_to(x, 5), x)
    y = data.pad_to(x, 6)
    assert y.dtype == np.float32 and y.shape == (2, 6, 6, 1)
    np.testing.assert_array_equal(y[:, :5, :5], x)  # one extra pixel: all of it at the bottom/right
    assert y[:, 5].sum() == 0 and y[:, :, 5].sum() == 0


def test_pad_to_refuses_larger_images():
    with pytest.raises(ValueError, match="pad_to: images must be at most 32x32; got 33x32"):
        data.pad_to(np.zeros((1, 33, 32, 1), np.uint8), 32)
    with pytest.raises(ValueError, match="pad_to: x must be NHWC"):
        data.pad_to(np.zeros((33, 32)), 32)
