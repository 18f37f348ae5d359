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
    # Seed 001's defaults: Keras's batch 32 and learning rate, a linear output (the quick run's batch is 8).
    defaults = latent_2d.Config()
    assert (defaults.batch_size, defaults.learning_rate, defaults.epochs) == (32, 1e-3, 10)
    assert (defaults.output_activation, defaults.l2) == ("linear", 0.0)
    assert run.model().build_args == (("output_activation", None),)
    assert 0 <= m["recon_outside_unit"] < 0.5
    # No penalty: the training loss is the MSE itself.
    assert history[-1]["loss"] == history[-1]["mse"] == m["train_mse"]


def test_the_l2_and_sigmoid_variants(tmp_path):
    record = run_quick(
        latent_2d.STUDY, tmp_path, "--set", "l2=0.04", "--set", "output_activation=sigmoid", "--set", "epochs=1"
    )
    h = record["history"]["model"][-1]
    # The training loss carries the penalty on the first convolution's kernel; the reported MSE does not.
    assert h["loss"] > h["mse"] == record["metrics"]["train_mse"]
    assert record["metrics"]["recon_outside_unit"] == 0  # a sigmoid cannot leave (0, 1)
    model = cnnlab.runs.load(tmp_path).model()
    assert dict(model.build_args) == {"output_activation": "sigmoid"}
    report = (tmp_path / "report.md").read_text()
    assert "l2(0.04) on encoder.0" in report and "not the seed's setup" in report
