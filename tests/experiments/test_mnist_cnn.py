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


def test_defaults_are_seed_004s_configuration():
    """In [17]-[18]: Adam (Keras's 1e-3), batch 32 (Keras's default), 5 epochs, no activation."""
    cfg = mnist_cnn.STUDY.config()
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.activation) == (5, 32, 1e-3, "linear")
    assert mnist_cnn.SEED_ACCURACY == 0.9821  # In [19]


def test_quick_run_credits_seed_004_and_draws_probabilities(tmp_path):
    record = run_quick(mnist_cnn.STUDY, tmp_path)
    (row,) = record["references"]
    assert row["reference"] == 0.9821 and row["source"] == 'seed 004 "MNIST with Conv2d", In [19]'
    assert "not 60,000 and 10,000" in row["note"] and "same data" not in row["note"]
    assert record["models"]["model"]["args"]["activation"] is None  # kept as the seed's network
    captions = {f["file"]: f["caption"] for f in record["figures"]}
    assert "softmax probability for every class" in captions["mistakes.png"]
