"""`lenet-autoencoder`: the quick run trains seed 003's three autoencoders on real digits and reports."""

import numpy as np

from cnnlab.studies import lenet_autoencoder
from tests.experiments._checks import check_run, run_quick


def test_quick_run_learns_and_reports(tmp_path):
    record = run_quick(lenet_autoencoder.STUDY, tmp_path)
    tags = tuple(lenet_autoencoder.MODELS)
    check_run(
        tmp_path, "lenet-autoencoder", data_name="mnist",
        metrics=("black_mae", "mean_digit_mse", *(f"{t}_val_mae" for t in tags), *(f"{t}_val_mse" for t in tags)),
    )  # fmt: skip
    m, hist = record["metrics"], record["history"]
    assert set(hist) == set(tags)
    for tag in tags:
        h = hist[tag]
        assert len(h) == record["config"]["epochs"] == 2
        assert h[-1]["loss"] < h[0]["loss"], f"{tag}: the training loss did not fall"
        # The reported validation numbers are the last epoch's pass over every test digit.
        assert m[f"{tag}_val_mae"] == h[-1]["val_mae"] and m[f"{tag}_val_mse"] == h[-1]["val_mse"]
        assert 0 <= m[f"{tag}_background_mean"] <= 1 and 0 <= m[f"{tag}_background_visible"] <= 1
    # The baselines, recomputed from the data: a black image's errors are the mean pixel and mean squared pixel.
    assert 0.05 < m["black_mae"] < 0.25 and m["black_mse"] < m["black_mae"]
    # From random initialisation (grey everywhere) the MSE model learns at least the average digit,
    # better than a black image.
    assert m["lenet_mse_val_mse"] < m["black_mse"]
    files = {f["file"] for f in record["figures"]}
    assert files == {"reconstructions.png", "interpolation.png", "curves.png"}
    report = (tmp_path / "report.md").read_text()
    assert "0.156" in report and "0.0623" in report  # the seed's validation MAEs (Q14 run, Q16)
    rows = [row["quantity"] for row in record["references"]]
    assert len(rows) == 4 and all(np.isfinite(row["ours"]) for row in record["references"])
    # Seed 003's questions answered in the report: Q15 (MSE or MAE) and Q17 (pixel against latent).
    assert "**Q15, MSE or MAE?**" in report and "**Q17, what do you notice?**" in report
    grey, ends = m["midpoint_halftone"], m["endpoint_halftone"]
    assert set(grey) == set(ends) == {"pixel space", *(label for label, *_ in lenet_autoencoder.MODELS.values())}
    assert all(0 <= v <= 1 for v in [*grey.values(), *ends.values()])
    # A cross-fade of two different digits is greyer at its middle than the digits at its ends.
    assert grey["pixel space"] > ends["pixel space"] + 0.1
    assert f"{grey['pixel space']:.0%} of its ink in half-tones" in report
    # The seed's settings are the defaults: Adam at 0.003, batch 256, 10 epochs; cnnlab's wide model is opt-in.
    cfg = lenet_autoencoder.Config()
    assert (cfg.learning_rate, cfg.batch_size, cfg.epochs, cfg.latent_dim, cfg.wide) == (0.003, 256, 10, 10, False)
    assert [c for _, c, *_ in lenet_autoencoder.MODELS.values()] == [
        "LeNetAutoencoder", "LeNetAutoencoder", "ImprovedLeNetAutoencoder",
    ]  # fmt: skip
    assert "not the seed's batch 256 and learning rate 0.003" in report  # the quick run's batch 16 is said
