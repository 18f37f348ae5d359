"""`lenet`: the quick run trains both models on real digits and writes a complete report."""

import numpy as np
import pytest

from cnnlab.studies import lenet
from cnnlab.studies._harness import UsageError
from tests.experiments._checks import check_run, run_quick


def test_defaults_are_seed_003s_run_model_and_every_dataset_has_a_goal():
    """Adam 1e-3, 10 epochs, 235 steps an epoch over 60,000 digits: batch 256 (ceil(60000 / 256) = 235)."""
    cfg = lenet.STUDY.config()
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate) == (10, 256, 1e-3)
    assert -(-60000 // cfg.batch_size) == 235
    assert [(tag, number) for tag, _, number, _ in lenet.SEED_ROWS] == [
        ("one_conv", 0.970), ("lenet5", 0.987), ("lenet5_retrained", 0.984)
    ]  # fmt: skip
    for name in lenet.STUDY.datasets:
        assert 0.9 < lenet.GOALS[name] < 1.0


def test_subset_is_random_distinct_and_checked():
    class Fake:
        images = np.arange(100).reshape(100, 1, 1, 1)
        labels = np.repeat(np.arange(10), 10)  # sorted by class, as the offline MNIST subset

    x, y = lenet._subset(Fake, 30, seed=0)
    assert len(x) == len(y) == 30
    assert len(np.unique(x)) == 30  # no example twice
    np.testing.assert_array_equal(y, Fake.labels[x[:, 0, 0, 0]])  # images and labels stay paired
    assert len(np.unique(y)) > 5  # drawn across the classes, not the first 30 (three digits)
    x_all, _ = lenet._subset(Fake, None, seed=0)
    assert x_all is Fake.images
    with pytest.raises(UsageError, match="n_train must be between 1 and 100; got 101"):
        lenet._subset(Fake, 101, seed=0)


def test_quick_run_learns_and_reports(tmp_path):
    record = run_quick(lenet.STUDY, tmp_path)
    tags = ("one_conv", "lenet5", "lenet5_retrained", "lenet5_improved")
    check_run(
        tmp_path, "lenet", data_name="mnist",
        metrics=(*(f"{t}_test_accuracy" for t in tags), "test_accuracy", "test_loss"),
    )  # fmt: skip
    m, cfg = record["metrics"], record["config"]
    assert cfg["epochs"] == 2 and record["data"]["n_train"] == cfg["n_train"] == 1024
    # Every model trained through fit, each epoch recorded with its test-split validation.
    for tag in tags:
        h = record["history"][tag]
        assert [e["epoch"] for e in h] == [1, 2]
        assert all("val_accuracy" in e for e in h)
    # Seed 003's models learn from 1,024 real digits in 8 steps of 256: above the 10% of chance.
    for tag in ("one_conv", "lenet5", "lenet5_retrained"):
        assert m[f"{tag}_test_accuracy"] > 0.3 and m[f"{tag}_test_loss"] < np.log(10), tag
    assert m["lenet5_test_accuracy"] != m["lenet5_retrained_test_accuracy"]  # another seed, another run
    # LeNet5Improved learns; 32 steps are too few for running statistics (momentum 0.9) to catch up with
    # the weights, so its final numbers use the statistics recomputed after training: far above chance.
    h = record["history"]["lenet5_improved"]
    assert h[1]["loss"] < h[0]["loss"] < np.log(10) + 0.5
    assert m["lenet5_improved_test_accuracy"] > 0.3
    # The headline numbers are the seed's LeNet-5; the report credits each seed number to its question.
    assert m["test_accuracy"] == m["lenet5_test_accuracy"]
    refs = {row["quantity"]: row for row in record["references"]}
    assert refs["OneConvCNN test accuracy after 2 epochs"]["reference"] == 0.970
    assert refs["LeNet5 test accuracy after 2 epochs"]["reference"] == 0.987
    assert "Q10" in refs["LeNet5 test accuracy after 2 epochs"]["source"]
    assert refs["LeNet5 retrained test accuracy after 2 epochs"]["reference"] == 0.984
    assert refs["LeNet5Improved test accuracy after 2 epochs"]["reference"] == ">= 0.993"
    assert "not a seed's" in refs["LeNet5Improved test accuracy after 2 epochs"]["source"]
    assert all("same data" not in row["note"] for row in record["references"])
    files = {f["file"] for f in record["figures"]}
    assert {"curves.png", "lenet5_q11.png", "lenet5_feature_maps.png", "lenet5_improved_kernels.png"} <= files
    report = (tmp_path / "report.md").read_text()
    assert "| LeNet5Improved (cnnlab's) | 327,242 |" in report and "| OneConvCNN (seed 003) | 11,926 |" in report
