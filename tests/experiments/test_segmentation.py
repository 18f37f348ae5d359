"""`segmentation`: exact digit-canvas masks, determinism, IoU against hand-counted confusions, a quick run."""

import numpy as np
import pytest

from cnnlab import data
from cnnlab.studies import segmentation as seg
from tests.experiments._checks import check_run, run_quick


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
    canvases, masks, placed = seg.make_canvases(images, labels, 12, size=64, digits_per_canvas=3, seed=7)
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
    canvases, masks, placed = seg.make_canvases(images, labels, 1, size=28, digits_per_canvas=2, seed=0)
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
    _, _, placed = seg.make_canvases(images, labels, 40, size=64, digits_per_canvas=3, seed=1)
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
    one = seg.make_canvases(images, labels, 5, seed=3)
    two = seg.make_canvases(images, labels, 5, seed=3)
    other = seg.make_canvases(images, labels, 5, seed=4)
    for x, y in zip(one, two, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(one[2], other[2])


def test_canvases_bad_input(digits):
    images, labels = digits
    with pytest.raises(TypeError, match="uint8"):
        seg.make_canvases(images.astype(np.float32), labels, 2, seed=0)
    with pytest.raises(ValueError, match="labels"):
        seg.make_canvases(images, labels[:-1], 2, seed=0)
    with pytest.raises(ValueError, match="size"):
        seg.make_canvases(images, labels, 2, size=20, seed=0)
    with pytest.raises(ValueError, match="threshold"):
        seg.make_canvases(images, labels, 2, threshold=0, seed=0)


def test_iou_against_hand_counted_confusion():
    true = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    # pairs (t, p): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0); class 3 never occurs
    conf = seg.confusion_matrix(true, pred, 4)
    np.testing.assert_array_equal(conf, [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    iou = seg.iou_per_class(conf)
    # IoU = TP / (TP + FP + FN): 1/(1+1+1), 2/(2+1+0), 1/(1+0+1), absent
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 1 / 2])
    assert np.isnan(iou[3])
    assert np.nanmean(iou) == pytest.approx(0.5)
    assert seg.pixel_accuracy(conf) == pytest.approx(4 / 6)


def test_iou_perfect_and_disjoint():
    t = np.array([0, 0, 1, 1, 2])
    np.testing.assert_allclose(seg.iou_per_class(seg.confusion_matrix(t, t, 3)), [1, 1, 1])
    # everything predicted as class 0: IoU 2/5 for class 0, 0 for the others
    np.testing.assert_allclose(seg.iou_per_class(seg.confusion_matrix(t, np.zeros_like(t), 3)), [2 / 5, 0, 0])


def test_confusion_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        seg.confusion_matrix(np.zeros(3, int), np.zeros(4, int), 2)
    with pytest.raises(ValueError, match="outside"):
        seg.confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)
    with pytest.raises(TypeError, match="integer"):
        seg.confusion_matrix(np.zeros(2), np.zeros(2), 2)


def test_quick_run_learns_and_reports(tmp_path):
    record = run_quick(seg.STUDY, tmp_path)
    check_run(
        tmp_path, "segmentation", metrics=("pixel_accuracy", "mean_iou", "background_baseline"), data_name="mnist"
    )
    m = record["metrics"]
    # Better than labelling every pixel background, so some digit pixels get their digit's class.
    assert m["pixel_accuracy"] > m["background_baseline"]
    # It finds most of the ink (naming the digit needs the full run's training).
    assert m["ink_recall"] > 0.5
    assert 0.0 <= m["digit_recall"] <= m["ink_recall"]
    conf = np.asarray(m["confusion"])
    size = record["config"]["canvas_size"]
    assert conf.sum() == record["config"]["test_canvases"] * size * size
    assert abs(np.trace(conf) / conf.sum() - m["pixel_accuracy"]) < 1e-9
    h = record["history"]["model"]
    assert h[-1]["loss"] < h[0]["loss"]


# -- oxford_iiit_pet through tfds (mocked: the real data cannot be prepared here) -----------------
def _learnable_pets(num_examples):
    """An ``as_data_source_fn`` for `tfds.testing.mock_data`: records of tfds's mock features
    (variable-size images from its own generator's shapes) holding a learnable scene: an orange
    ellipse (trimap 1, pet) with a grey rim (3, border) on a blue background (2), plus noise."""
    from tensorflow_datasets.testing.mocking import RandomFakeGenerator

    colours = {1: (210, 120, 40), 2: (40, 80, 170), 3: (128, 128, 128)}

    def as_data_source(self, split, **kwargs):
        gen = RandomFakeGenerator(self.info.features, num_examples, seed=0 if split == "train" else 1000)
        recs = []
        for i in range(num_examples):
            ex = dict(gen[i])
            rng = np.random.default_rng(({"train": 0, "test": 1}[split], i))
            h, w = (int(v) for v in rng.integers(40, 72, 2))
            cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
            ry, rx = rng.uniform(0.2, 0.35) * h, rng.uniform(0.2, 0.35) * w
            yy, xx = np.mgrid[:h, :w]
            d = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
            trimap = np.where(d < 1.0, 1, np.where(d < 1.3, 3, 2)).astype(np.uint8)
            image = np.zeros((h, w, 3))
            for v, c in colours.items():
                image[trimap == v] = c
            image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
            ex.update(image=image, segmentation_mask=trimap[..., None])
            recs.append(ex)
        return recs

    return as_data_source


def test_pets_quick_run_under_tfds_mock(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(as_data_source_fn=_learnable_pets(80)):
        record = run_quick(
            seg.STUDY,
            tmp_path,
            "--dataset",
            "oxford_iiit_pet",
            "--set",
            "image_size=32",
            "--set",
            "test_images=40",
        )
    check_run(
        tmp_path,
        "segmentation",
        metrics=("pixel_accuracy", "mean_iou", "majority_baseline", "iou_pet", "iou_background", "iou_border"),
        data_name="oxford_iiit_pet",
    )
    m = record["metrics"]
    assert record["data"]["n_train"] == 80 and record["data"]["n_test"] == 40  # 300 asked, 80 there; 40 asked
    assert "oxford_iiit_pet" in record["data"]["source"]
    conf = np.asarray(m["confusion"])
    assert conf.shape == (3, 3) and conf.sum() == 40 * 32 * 32
    assert abs(np.trace(conf) / conf.sum() - m["pixel_accuracy"]) < 1e-9
    # the baseline predicts the most common class of the training masks (background here) everywhere
    assert m["majority_class"] == "background"
    assert abs(m["majority_baseline"] - conf[1].sum() / conf.sum()) < 1e-9
    # it learns the scene: better than the baseline, and the pet found
    assert m["pixel_accuracy"] > m["majority_baseline"] + 0.05
    assert m["iou_pet"] > 0.5
    h = record["history"]["model"]
    assert h[-1]["loss"] < h[0]["loss"]
    rows = {row["quantity"]: row for row in record["references"]}
    assert rows["held-out pixel accuracy"]["reference"] == "about 0.9"
    assert "from scratch" in rows["held-out pixel accuracy"]["note"]
    report = (tmp_path / "report.md").read_text()
    assert "MobileNetV2" in report


def test_pets_without_data_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from cnnlab.studies import _harness

    empty = tmp_path / "tfds"
    empty.mkdir()
    monkeypatch.setenv("TFDS_DATA_DIR", str(empty))
    argv = ["--quick", "--quiet", "--dataset", "oxford_iiit_pet", "--out", str(tmp_path)]
    assert _harness.run_study(seg.STUDY, argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "oxford_iiit_pet" in err and f"in {empty}" in err
    assert "tfds build oxford_iiit_pet --file_format=array_record" in err and "TFDS_DATA_DIR" in err
    # --data-dir names the tfds data directory instead
    other = tmp_path / "other"
    other.mkdir()
    argv = ["--quick", "--quiet", "--dataset", "oxford_iiit_pet", "--data-dir", str(other), "--out", str(tmp_path)]
    assert _harness.run_study(seg.STUDY, argv) == 2
    assert f"in {other}" in capsys.readouterr().err


def test_pets_bad_settings(tmp_path, capsys):
    from cnnlab.studies import _harness

    for setting, message in (("image_size=30", "multiple of 4"), ("train_images=0", "at least 1")):
        argv = ["--quick", "--quiet", "--dataset", "oxford_iiit_pet", "--set", setting, "--out", str(tmp_path)]
        assert _harness.run_study(seg.STUDY, argv) == 2
        assert message in capsys.readouterr().err
