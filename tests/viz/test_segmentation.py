"""Segmentation figures: overlay colours against a hand-written blend, what the axes show, labels and titles."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab.viz.segmentation import digit_palette, iou_bars, mask_overlay, pet_palette, segmentation_overlays

NAMES = ["background"] + [f"digit {d}" for d in range(10)]


def test_palettes():
    pal = digit_palette()
    assert pal.shape == (11, 3) and (pal >= 0).all() and (pal <= 1).all()
    np.testing.assert_array_equal(pal[8], [1.0, 0.9, 0.1])  # digit 7: tab10's grey made yellow
    assert len({tuple(c) for c in pal}) == 11
    assert pet_palette().shape == (3, 3)


def test_mask_overlay_blends_per_pixel():
    image = np.array([[0, 255], [100, 200]], np.uint8)
    mask = np.array([[0, 3], [1, 0]])
    pal = digit_palette()
    out = mask_overlay(image, mask, alpha=0.5)
    assert out.shape == (2, 2, 3)
    for i in range(2):
        for j in range(2):
            grey = image[i, j] / 255.0
            want = [grey * 0.6] * 3 if mask[i, j] == 0 else [0.5 * grey + 0.5 * c for c in pal[mask[i, j]]]
            np.testing.assert_allclose(out[i, j], want)
    # RGB images keep their colours; another plain class is dimmed instead
    rgb = np.full((2, 2, 3), 255, np.uint8)
    out = mask_overlay(rgb, np.array([[1, 1], [0, 2]]), palette=pet_palette(), plain=1)
    np.testing.assert_allclose(out[0, 0], [0.6, 0.6, 0.6])
    np.testing.assert_allclose(out[1, 0], 0.35 + 0.65 * pet_palette()[0])


def test_segmentation_overlays_shows_images_and_masks():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    true = rng.integers(0, 11, (3, 8, 8))
    pred = true.copy()
    pred[0, :4] = 0  # half of the first canvas wrong (where it was not background already)
    fig = segmentation_overlays(images, true, pred, NAMES)
    axes = np.array(fig.axes).reshape(3, 3)
    np.testing.assert_allclose(axes[0, 1].images[0].get_array()[..., 0], images[1] / 255.0)
    np.testing.assert_allclose(axes[1, 2].images[0].get_array(), mask_overlay(images[2], true[2]))
    np.testing.assert_allclose(axes[2, 0].images[0].get_array(), mask_overlay(images[0], pred[0]))
    assert [axes[r, 0].get_ylabel() for r in range(3)] == ["canvas", "true mask", "predicted"]
    assert axes[2, 0].get_xlabel() == f"{(true[0] == pred[0]).mean():.1%} of pixels right"
    assert axes[2, 1].get_xlabel() == "100.0% of pixels right"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[0] == "background (dimmed)" and legend[1:] == NAMES[1:]
    assert fig._suptitle.get_text().startswith("Held-out canvases")
    plt.close(fig)


def test_iou_bars_heights_shares_and_mean():
    conf = np.array([[6, 1, 0], [1, 2, 0], [0, 0, 0]])  # class 2 absent: NaN IoU, drawn as 0
    iou = np.array([6 / 8, 2 / 4, np.nan])
    fig = iou_bars(iou, ["pet", "background", "border"], conf, palette=pet_palette(), plain=1, what="images")
    ax = fig.axes[0]
    np.testing.assert_allclose([b.get_height() for b in ax.patches], [0.75, 0.5, 0.0])
    assert [t.get_text() for t in ax.texts] == ["70.0%", "30.0%", "0.0%"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pet", "background", "border"]
    assert ax.get_ylabel() == "IoU (held-out images)"
    assert ax.get_legend().get_texts()[0].get_text() == "mean IoU 0.625"
    assert ax.lines[0].get_ydata()[0] == pytest.approx(0.625)
    np.testing.assert_allclose(ax.patches[1].get_facecolor()[:3], [0.5, 0.5, 0.5])  # the plain class is grey
    plt.close(fig)
