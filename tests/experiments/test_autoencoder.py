"""`autoencoder`: the quick run learns to reconstruct real digits and reports against the Keras blog."""

import numpy as np
import pytest

from cnnlab import data
from cnnlab.studies import autoencoder
from tests.experiments._checks import check_run, run_quick


def _entropy(x):
    """Mean binary entropy of grey levels in [0, 1], with 0 log 0 = 0 (NumPy, float64)."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(x > 0, x * np.log(x), 0.0) + np.where(x < 1, (1 - x) * np.log(1 - x), 0.0))
    return float(h.mean())


def test_quick_run_learns_and_reports(tmp_path):
    record = run_quick(autoencoder.STUDY, tmp_path)
    check_run(tmp_path, "autoencoder", metrics=("test_loss", "test_mse", "train_loss", "test_loss_floor"))
    m, cfg = record["metrics"], record["config"]
    test = data.load("mnist", "test")
    x = test.images.astype(np.float64) / 255.0

    # The floor is the mean pixel entropy of the test images: BCE of a perfect copy.
    assert m["test_loss_floor"] == pytest.approx(_entropy(x), abs=1e-4)
    # It learns: the test loss falls every epoch and beats the best constant image
    # (every pixel the mean grey level), a baseline computed here from the data.
    hist = record["history"]["model"]
    assert len(hist) == cfg["epochs"] == 3
    val = [h["val_loss"] for h in hist]
    assert all(b < a for a, b in zip(val, val[1:])), val
    mean = x.mean()
    constant = float(-(x * np.log(mean) + (1 - x) * np.log(1 - mean)).mean())
    assert m["test_loss_floor"] < m["test_loss"] < constant
    # Per-class losses, computed separately, average (weighted by class size) to the test loss.
    counts = np.bincount(test.labels, minlength=10)
    per_class = np.array([m["test_loss_per_class"][str(k)] for k in range(10)])
    assert float(per_class @ counts / counts.sum()) == pytest.approx(m["test_loss"], rel=1e-4)
    # Above each class's own floor (its mean pixel entropy, computed here).
    for k in range(10):
        floor_k = _entropy(x[test.labels == k])
        assert m["test_loss_above_floor_per_class"][str(k)] == pytest.approx(per_class[k] - floor_k, abs=1e-4)
    assert all(isinstance(c, int) and 0 <= c < 8 for c in m["dead_code_channels"])
    assert m["steps"] == 3 * (cfg["n_train"] // cfg["batch_size"])
    # The report holds the blog's number with its source.
    rows = {row["quantity"]: row for row in record["references"]}
    blog = rows["test binary cross-entropy after 3 epochs"]
    assert blog["reference"] == 0.094 and "Keras blog" in blog["source"]
    assert {f["file"] for f in record["figures"]} == {"reconstructions.png", "loss.png", "codes.png"}


def test_pick_per_class_draws_from_every_class():
    labels = np.repeat(np.arange(4), [5, 3, 7, 2])  # ordered by class, like the offline MNIST subset
    idx = autoencoder.pick_per_class(labels, 2, seed=0)
    assert idx.shape == (8,) and len(set(idx.tolist())) == 8
    np.testing.assert_array_equal(labels[idx], [0, 0, 1, 1, 2, 2, 3, 3])
    with pytest.raises(ValueError, match="class 3 has 2 examples; per_class=3"):
        autoencoder.pick_per_class(labels, 3, seed=0)
