"""`lenet`: the quick run trains both models on real digits and writes a complete report."""

import numpy as np
import pytest

from cnnlab.studies import lenet
from cnnlab.studies._harness import UsageError
from tests.experiments._checks import check_run, run_quick


def test_every_dataset_has_an_epoch_budget_and_a_goal():
    assert lenet.STUDY.config().epochs is None  # None: the per-dataset budget
    for name in lenet.STUDY.datasets:
        assert isinstance(lenet.EPOCHS[name], int) and lenet.EPOCHS[name] >= 1
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
    check_run(
        tmp_path, "lenet", data_name="mnist",
        metrics=("lenet5_test_accuracy", "lenet5_test_loss", "lenet5_improved_test_accuracy",
                 "lenet5_improved_test_loss", "test_accuracy", "test_loss"),
    )  # fmt: skip
    m, cfg = record["metrics"], record["config"]
    assert cfg["epochs"] == 2 and record["data"]["n_train"] == cfg["n_train"] == 1024
    # Both models trained through fit, each epoch recorded with its test-split validation.
    for tag in ("lenet5", "lenet5_improved"):
        h = record["history"][tag]
        assert [e["epoch"] for e in h] == [1, 2]
        assert all("val_accuracy" in e for e in h)
    # LeNet5 learns from 1,024 real digits in two epochs: far above the 10% of chance.
    assert m["lenet5_test_accuracy"] > 0.5
    assert m["lenet5_test_loss"] < np.log(10)
    # LeNet5Improved's training loss falls (its test accuracy after 32 steps is not yet meaningful:
    # batch norm's running statistics, momentum 0.99, have barely moved from their initial values).
    h = record["history"]["lenet5_improved"]
    assert h[1]["loss"] < h[0]["loss"] < np.log(10) + 0.5
    assert h[1]["accuracy"] > 0.2
    # The headline numbers are the improved model's; the report compares both against their references.
    assert m["test_accuracy"] == m["lenet5_improved_test_accuracy"]
    refs = {row["quantity"]: row for row in record["references"]}
    assert refs["LeNet5 test accuracy after 2 epochs"]["reference"] == 0.987
    assert refs["LeNet5 test accuracy after 2 epochs"]["ours"] == record["history"]["lenet5"][1]["val_accuracy"]
    assert refs["LeNet5Improved test accuracy after 2 epochs"]["reference"] == ">= 0.993"
    files = {f["file"] for f in record["figures"]}
    assert {"curves.png", "lenet5_kernels.png", "lenet5_feature_maps.png", "lenet5_improved_kernels.png"} <= files
    assert "| LeNet5Improved | 327,242 |" in (tmp_path / "report.md").read_text()
