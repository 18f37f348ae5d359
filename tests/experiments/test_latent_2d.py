"""`latent-2d`: the quick run learns a 2-D code of real digits 1, 5, 6 and writes a complete report."""

import numpy as np

import cnnlab
from cnnlab import data, train
from cnnlab.studies import latent_2d
from tests.experiments._checks import check_run, run_quick


def test_quick_run_learns_and_reports(tmp_path):
    record = run_quick(latent_2d.STUDY, tmp_path)
    check_run(
        tmp_path, "latent-2d", metrics=("train_mse", "test_mse", "mean_image_mse", "nearest_centre_accuracy"),
        data_name="mnist",
    )  # fmt: skip
    m = record["metrics"]
    history = record["history"]["model"]
    assert len(history) == record["config"]["epochs"] == 2
    # It learns: the loss falls, and from 2 numbers it beats always drawing the mean digit.
    assert history[-1]["loss"] < history[0]["loss"]
    assert m["test_mse"] < 0.9 * m["mean_image_mse"]
    # Only the three digits: 1,200 / 300 of the 4,000 / 1,000 offline digits (or their share of full MNIST).
    assert m["n_train"] < record["data"]["n_train"] and m["n_test"] < record["data"]["n_test"]
    # The code separates digits it never saw labels for far better than chance (1/3).
    assert m["nearest_centre_accuracy"] > 0.5
    assert np.all(np.asarray(m["latent_max"]) > np.asarray(m["latent_min"]))
    files = {f["file"] for f in record["figures"]}
    assert {"latent_scatter.png", "manifold.png", "reconstructions.png", "curves.png"} <= files
    report = (tmp_path / "report.md").read_text()
    assert "0.0281" in report  # the reference beside ours

    # The kept model, reloaded without training, gives the reported test MSE exactly.
    run = cnnlab.runs.load(tmp_path)
    assert run.experiment == "latent-2d" and run.config == record["config"]
    assert type(run.model()).__name__ == "StridedAutoencoder"
    test = data.select_classes(data.load("mnist", "test"), tuple(run.config["classes"]))
    assert train.evaluate(run.model(), (test.images, test.images), loss="mse")["loss"] == m["test_mse"]
    assert "Total params: 51,459" in report  # its layer table, as the seed's summary counts it
