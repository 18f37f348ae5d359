"""`segmentation`: quick runs on digit canvases and on tfds's mock Oxford-IIIT Pet; clear errors.

The canvases are tested in tests/data/test_canvases.py, the IoU and pixel accuracy in tests/test_metrics.py."""

import numpy as np

from cnnlab.studies import segmentation as seg
from tests.experiments._checks import check_run, run_quick


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
    from cnnlab.studies import _runner

    empty = tmp_path / "tfds"
    empty.mkdir()
    monkeypatch.setenv("TFDS_DATA_DIR", str(empty))
    argv = ["--quick", "--quiet", "--dataset", "oxford_iiit_pet", "--out", str(tmp_path)]
    assert _runner.run_study(seg.STUDY, argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "oxford_iiit_pet" in err and f"in {empty}" in err
    assert "tfds build oxford_iiit_pet --file_format=array_record" in err and "TFDS_DATA_DIR" in err
    # --data-dir names the tfds data directory instead
    other = tmp_path / "other"
    other.mkdir()
    argv = ["--quick", "--quiet", "--dataset", "oxford_iiit_pet", "--data-dir", str(other), "--out", str(tmp_path)]
    assert _runner.run_study(seg.STUDY, argv) == 2
    assert f"in {other}" in capsys.readouterr().err


def test_pets_bad_settings(tmp_path, capsys):
    from cnnlab.studies import _runner

    for setting, message in (("image_size=30", "multiple of 4"), ("train_images=0", "at least 1")):
        argv = ["--quick", "--quiet", "--dataset", "oxford_iiit_pet", "--set", setting, "--out", str(tmp_path)]
        assert _runner.run_study(seg.STUDY, argv) == 2
        assert message in capsys.readouterr().err
