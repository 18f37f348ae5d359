"""`make_canvases`: exact digit-canvas masks against a pixel loop, overlaps, determinism, errors."""

import numpy as np
import pytest

from cnnlab import data
from cnnlab.data import BACKGROUND, CANVAS_CLASSES, make_canvases


@pytest.fixture(scope="module")
def digits():
    ds = data.load("mnist", "test")
    return np.asarray(ds.images), np.asarray(ds.labels)


def _expected(images, labels, placements, size, threshold):
    """Canvas and mask by a plain loop over the placed digits and their pixels (the oracle)."""
    n, k, _ = placements.shape
    canvas = np.zeros((n, size, size), np.int64)
    mask = np.zeros((n, size, size), np.int64)
    for c in range(n):
        for j in range(k):
            idx, top, left = (int(v) for v in placements[c, j])
            digit = images[idx, ..., 0]
            for i in range(digit.shape[0]):
                for jj in range(digit.shape[1]):
                    v = int(digit[i, jj])
                    canvas[c, top + i, left + jj] = max(canvas[c, top + i, left + jj], v)
                    if v >= threshold:
                        mask[c, top + i, left + jj] = int(labels[idx]) + 1  # later digits overwrite
    return canvas, mask


def test_canvas_masks_are_exact(digits):
    images, labels = digits
    canvases, masks, placed = make_canvases(images, labels, 12, size=64, digits_per_canvas=3, seed=7)
    assert canvases.shape == (12, 64, 64, 1) and canvases.dtype == np.uint8
    assert masks.shape == (12, 64, 64) and masks.dtype == np.int32
    assert placed.shape == (12, 3, 3)
    canvas, mask = _expected(images, labels, placed, 64, 128)
    np.testing.assert_array_equal(canvases[..., 0], canvas)
    np.testing.assert_array_equal(masks, mask)
    # Every foreground pixel is labelled, every labelled pixel is foreground (canvas is the max of its digits).
    np.testing.assert_array_equal(masks > 0, canvases[..., 0] >= 128)
    for c in range(12):
        # three different digits, each wholly inside the canvas, each leaving its class on the mask
        assert len(set(placed[c, :, 0])) == 3
        assert (placed[c, :, 1:] >= 0).all() and (placed[c, :, 1:] <= 64 - 28).all()
        classes = set(np.unique(masks[c])) - {0}
        assert classes == {int(labels[i]) + 1 for i in placed[c, :, 0]}


def test_overlapping_digits_later_wins():
    # Two hand-made 28x28 digits on a 28x28 canvas must overlap; the later one's foreground wins.
    a = np.zeros((28, 28), np.uint8)
    b = np.zeros((28, 28), np.uint8)
    a[5:20, 5:20] = 200
    b[10:25, 10:25] = 255
    b[12, 12] = 100  # ink below the threshold: the earlier digit keeps this pixel
    images = np.stack([a, b])[..., None]
    labels = np.array([3, 7])
    canvases, masks, placed = make_canvases(images, labels, 1, size=28, digits_per_canvas=2, seed=0)
    first = int(placed[0, 0, 0])
    other = 1 - first
    later_class = int(labels[other]) + 1
    later = images[other, ..., 0] >= 128
    assert (masks[0][later] == later_class).all()
    earlier_only = (images[first, ..., 0] >= 128) & ~later
    assert (masks[0][earlier_only] == int(labels[first]) + 1).all()
    assert (masks[0][~later & ~earlier_only] == 0).all()
    np.testing.assert_array_equal(canvases[0, ..., 0], np.maximum(a, b))


def test_canvases_little_overlap(digits):
    images, labels = digits
    _, _, placed = make_canvases(images, labels, 40, size=64, digits_per_canvas=3, seed=1)
    ink = images[..., 0] > 0
    clash = 0
    for c in range(40):
        cover = np.zeros((64, 64), np.int64)
        for idx, top, left in placed[c]:
            cover[top : top + 28, left : left + 28] += ink[idx]
        clash += int((cover > 1).any())
    assert clash <= 2, f"{clash} of 40 canvases have overlapping ink"


def test_canvases_deterministic(digits):
    images, labels = digits
    one = make_canvases(images, labels, 5, seed=3)
    two = make_canvases(images, labels, 5, seed=3)
    other = make_canvases(images, labels, 5, seed=4)
    for x, y in zip(one, two, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(one[2], other[2])


def test_canvases_bad_input(digits):
    images, labels = digits
    with pytest.raises(TypeError, match="uint8"):
        make_canvases(images.astype(np.float32), labels, 2, seed=0)
    with pytest.raises(ValueError, match="labels"):
        make_canvases(images, labels[:-1], 2, seed=0)
    with pytest.raises(ValueError, match="size"):
        make_canvases(images, labels, 2, size=20, seed=0)
    with pytest.raises(ValueError, match="threshold"):
        make_canvases(images, labels, 2, threshold=0, seed=0)


def test_canvas_classes_name_the_mask_values():
    assert len(CANVAS_CLASSES) == 11 and CANVAS_CLASSES[BACKGROUND] == "background"
    assert CANVAS_CLASSES[1 + 7] == "digit 7"


def test_blank_digits_place_anywhere_and_leave_background():
    images = np.zeros((3, 28, 28), np.uint8)  # no ink: every position is free, the mask stays empty
    canvases, masks, placed = make_canvases(images, np.array([1, 2, 3]), 4, size=32, digits_per_canvas=3, seed=0)
    assert canvases.max() == 0 and (masks == BACKGROUND).all()
    assert (placed[..., 1:] >= 0).all() and (placed[..., 1:] <= 32 - 28).all()
