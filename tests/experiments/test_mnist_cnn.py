"""`mnist-cnn`: the quick run learns on real digits and writes a complete report."""

import numpy as np

from cnnlab.studies import mnist_cnn
from tests.experiments._checks import check_run, run_quick


def test_quick_run_learns_and_reports(tmp_path):
    record = run_quick(mnist_cnn.STUDY, tmp_path)
    check_run(tmp_path, "mnist-cnn", metrics=("test_accuracy", "test_loss"), data_name="mnist")
    m = record["metrics"]
    # One epoch on 4,000 real digits: far above the 10% of chance, the loss below log(10).
    assert m["test_accuracy"] > 0.5
    assert m["test_loss"] < np.log(10)
    confusion = np.asarray(m["confusion"])
    # The confusion matrix counts every test digit once, and its diagonal is the accuracy.
    assert confusion.sum() == record["data"]["n_test"]
    assert abs(np.trace(confusion) / confusion.sum() - m["test_accuracy"]) < 1e-6
    assert len(record["history"]["model"]) == record["config"]["epochs"] == 1
