"""`cnnlab.latent.blend.halftone_share`: hand-counted images, and a cross-fade of real digits."""

import numpy as np
import pytest

from cnnlab import data
from cnnlab.latent.blend import halftone_share


def test_hand_counted_images():
    img = np.zeros((3, 3, 3, 1), np.float32)
    img[0, 0, :, 0] = [1.0, 0.5, 0.05]  # ink: 1.0 and 0.5 (0.05 is below ink); grey: 0.5
    img[1] = 0.3  # every pixel ink, every one grey (the band's ends count)
    # img[2]: no ink at all
    np.testing.assert_allclose(halftone_share(img), [0.5, 1.0, 0.0])
    # A linear decoder's overshoot is clipped: 1.4 is full ink, -0.2 no ink.
    over = np.array([1.4, 0.6, -0.2, 0.0], np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(halftone_share(over), [0.5])
    # uint8 images are scaled by 1/255: 255 is ink, 128 (0.502) is grey.
    np.testing.assert_allclose(halftone_share(np.array([[[[255], [128]]]], np.uint8)), [0.5])


def test_a_cross_fade_of_two_real_digits_is_mostly_grey():
    ds = data.load("mnist", "test")
    one, seven = (ds.images[np.flatnonzero(np.asarray(ds.labels) == c)[0]] for c in (1, 7))
    digits = halftone_share(np.stack([one, seven]))
    blend = halftone_share(((one / 255.0 + seven / 255.0) / 2)[None])
    assert blend[0] > 0.5 > digits.max()


@pytest.mark.parametrize(
    "images,kwargs,words",
    [
        (np.zeros((28, 28, 1)), {}, r"images must be \(N, H, W, C\), got shape \(28, 28, 1\)"),
        (np.zeros((1, 2, 2, 1)), dict(low=0.8, high=0.2), r"needs 0 <= ink <= low <= high <= 1, got ink=0.1, low=0.8"),
    ],
)
def test_bad_arguments_are_named(images, kwargs, words):
    with pytest.raises(ValueError, match=words):
        halftone_share(images, **kwargs)
