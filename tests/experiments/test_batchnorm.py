"""`batchnorm`: seed 002's settings are the defaults; the quick seed sweep runs on a fresh machine (the embedded
digits, with a note saying why), learns, reports train/validation/test numbers and answers the seed's questions."""

import json

import numpy as np
import pytest

from cnnlab import data
from cnnlab.studies import batchnorm
from cnnlab.studies._runner import run_study
from tests._fresh import simulate_fresh_machine
from tests.data._files import write_cifar_python
from tests.experiments._checks import check_run, run_quick

HEADLINE = tuple(
    f"{split}_{q}_{tag}" for split in ("train", "val", "test") for q in ("accuracy", "loss") for tag in ("plain", "bn")
) + ("test_accuracy_plain_std", "test_accuracy_bn_std", "bn_gain_mean", "bn_gain_std", "bn_gain_min", "bn_gain_max",
     "n_seeds", "theory_bias_grad_max", "theory_sigmoid_r2")  # fmt: skip


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run on a simulated fresh machine: no CIFAR-10, no Fashion-MNIST, only the embedded digits."""
    out, tmp = tmp_path_factory.mktemp("batchnorm"), tmp_path_factory.mktemp("fresh")
    with pytest.MonkeyPatch.context() as mp:
        simulate_fresh_machine(mp, tmp)
        return out, run_quick(batchnorm.STUDY, out)


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    simulate_fresh_machine(monkeypatch, tmp_path)


def test_the_defaults_are_seed_002s_settings():
    cfg = batchnorm.Config()
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.decay) == (25, 32, 1e-4, 1e-6)
    assert (cfg.train_size, cfg.val_size, cfg.test_size) == (None, None, None)  # all images; validation = test
    assert cfg.dataset == "auto" and batchnorm.PREFERENCE[0] == "cifar10"


def test_quick_run_on_a_fresh_machine_says_what_it_used_instead(quick):
    out, record = quick
    check_run(out, "batchnorm", metrics=HEADLINE, data_name="mnist")
    cfg, d = record["config"], record["data"]
    assert (d["n_train"], d["n_val"], d["n_test"]) == (cfg["train_size"], cfg["val_size"], cfg["test_size"])
    assert d["wanted"] == "cifar10" and "padded to 32x32" in d["source"]
    assert d["fallback"].startswith("cifar10 is not here without a download")
    assert "apt-get install dataset-fashion-mnist" in d["fallback"] and "Using mnist instead" in d["fallback"]
    report = (out / "report.md").read_text()
    assert "**Data: mnist, not the seed's cifar10.**" in report
    assert "CIFAR-10 sample grid cannot be drawn here: the run used mnist" in report
    assert {f["file"] for f in record["figures"]} == {"theory.png", "curves.png", "sweep.png", "seeds.png"}
    gain_row = [row for row in record["references"] if "gain" in row["quantity"]]
    assert len(gain_row) == 1 and gain_row[0]["reference"] == batchnorm.REFERENCE_GAIN
    assert "seed 002" in gain_row[0]["source"] and "not the seed's setup: mnist" in gain_row[0]["note"]


def test_seeds_are_distinct_runs_and_both_models_learn(quick):
    _, record = quick
    m, cfg = record["metrics"], record["config"]
    seeds = list(range(cfg["seed"], cfg["seed"] + cfg["n_seeds"]))
    assert m["seeds"] == seeds and m["n_seeds"] == cfg["n_seeds"] == 2
    for tag in ("plain", "bn"):
        hs = [record["history"][f"{tag}_seed{s}"] for s in seeds]
        assert all(len(h) == cfg["epochs"] for h in hs)
        # fit_many's members are separate runs: different initialisation, shuffling and dropout.
        losses = np.array([[rec["loss"] for rec in h] for h in hs])
        assert np.all(np.abs(losses[0] - losses[1]) > 1e-6), losses
        # Each member learns: its training loss falls over the epochs, from about log(10) at the start.
        assert np.all(losses[:, -1] < losses[:, 0]), losses
        assert np.all(losses[:, 0] < 1.2 * np.log(10)), losses
    # Both are well above chance (0.1) after 40 steps. The batch-norm network's moving statistics (momentum 0.99)
    # would still lag in evaluation mode (its validation curve shows it); the final numbers use recomputed ones.
    assert min(m["test_accuracy_plain_per_seed"]) > 0.3
    assert min(m["test_accuracy_bn_per_seed"]) > 0.3


def test_train_validation_and_test_numbers_agree_with_their_sources(quick):
    out, record = quick
    m = record["metrics"]
    assert record["config"]["bn_stats"] == "recomputed"  # --quick: batch norm evaluates with recomputed statistics
    for tag in ("plain", "bn"):
        # The final validation numbers are evaluate()'s; the history's last epoch measured the same images with the
        # same weights: equal for the baseline, and for batch norm only up to the statistics it normalises with.
        last = [record["history"][f"{tag}_seed{s}"][-1] for s in m["seeds"]]
        for q in ("accuracy", "loss"):
            if tag == "plain":
                assert m[f"val_{q}_{tag}"] == pytest.approx(np.mean([r[f"val_{q}"] for r in last]), abs=1e-5)
        for split in ("train", "val", "test"):
            n = record["data"][f"n_{split}"]
            assert 0 <= m[f"{split}_accuracy_{tag}"] <= 1 and m[f"{split}_loss_{tag}"] > 0
            # Every image counts: a seed's accuracy is a multiple of 1 / n, so the mean of two is of 1 / (2n).
            assert abs(m[f"{split}_accuracy_{tag}"] * 2 * n - round(m[f"{split}_accuracy_{tag}"] * 2 * n)) < 1e-6
    report = (out / "report.md").read_text()
    assert "| model | train loss | train acc | validation loss | validation acc | test loss | test acc |" in report
    assert f"| baseline | {m['train_loss_plain']:.4f} | {m['train_accuracy_plain']:.4f} |" in report


def test_reported_spread_is_numpys_over_the_per_seed_values(quick):
    out, record = quick
    m = json.loads((out / "metrics.json").read_text())["metrics"]
    plain = np.array(m["test_accuracy_plain_per_seed"], np.float64)
    bn = np.array(m["test_accuracy_bn_per_seed"], np.float64)
    gain = np.array(m["bn_gain_per_seed"], np.float64)
    np.testing.assert_allclose(gain, bn - plain, rtol=0, atol=1e-12)
    expected = {
        "test_accuracy_plain": plain.mean(),
        "test_accuracy_bn": bn.mean(),
        "test_accuracy_plain_std": plain.std(ddof=1),
        "test_accuracy_bn_std": bn.std(ddof=1),
        "bn_gain_mean": gain.mean(),
        "bn_gain_std": gain.std(ddof=1),
        "bn_gain_min": gain.min(),
        "bn_gain_max": gain.max(),
        "test_loss_plain": np.mean(m["test_loss_plain_per_seed"]),
        "test_loss_bn": np.mean(m["test_loss_bn_per_seed"]),
    }
    for k, v in expected.items():
        assert m[k] == pytest.approx(v, rel=0, abs=1e-12), k
    # Two seeds: the sample std is |a - b| / sqrt(2), written out.
    assert m["bn_gain_std"] == pytest.approx(abs(gain[0] - gain[1]) / np.sqrt(2), abs=1e-12)
    report = (out / "report.md").read_text()
    assert f"{m['bn_gain_mean']:.4g}" in report


def test_the_seeds_theory_questions_are_answered_with_numbers(quick):
    out, record = quick
    m = record["metrics"]
    assert m["theory_bias_grad_max"] < 1e-5 * m["theory_weight_grad_max"]
    assert m["theory_bias_max_abs_diff"] < 1e-3 and m["theory_identity_max_abs_diff"] < 1e-4
    assert m["theory_sigmoid_r2"] > 0.98 > m["theory_sigmoid_r2_scaled"]
    report = (out / "report.md").read_text()
    assert "*Why is the bias before batch norm unnecessary?*" in report
    assert "*Why not force mean 0 and variance 1?*" in report


@pytest.mark.parametrize(
    "setting,message",
    [
        ("n_seeds=1", "--set n_seeds must be at least 2; got 1"),
        ("train_size=70000", "train_size must be an int in [1, 4000] (the train split's size) or None; got 70000"),
        ("val_size=0", "--set val_size must be at least 1; got 0"),
    ],
)
def test_bad_configuration_is_a_one_line_error(fresh, tmp_path, capsys, setting, message):
    status = run_study(batchnorm.STUDY, ["--quick", "--quiet", "--out", str(tmp_path), "--set", setting])
    err = capsys.readouterr().err
    assert status == 2
    # One error line; the warnings before it say which data the run had found (the embedded digits).
    errors = [line for line in err.splitlines() if "batchnorm: error: " in line]
    assert len(errors) == 1 and message in errors[0], err
    assert all(line.startswith("[batchnorm] warning: ") for line in err.splitlines() if line not in errors)


def test_an_unknown_dataset_is_refused_by_name(tmp_path, capsys):
    status = run_study(batchnorm.STUDY, ["--quick", "--dataset", "svhn", "--out", str(tmp_path)])
    assert status == 2
    assert "--dataset must be one of 'auto', 'cifar10', 'fashion_mnist', 'mnist'; got 'svhn'" in capsys.readouterr().err


# ~60 s on 2 CPU cores, a second run of the study; the CIFAR-10 reader has its own tests in tests/data.
@pytest.mark.slow
def test_cifar10_files_are_chosen_first_and_train_at_32x32x3(fresh, tmp_path):
    """The CIFAR-10 path end to end: real images (the embedded digits, padded to 32x32 and made RGB here, in the
    test) written as CIFAR-10 python batches in --data-dir; auto picks them first, trains 3-channel inputs
    unpadded, and draws the seed's sample grid."""
    digits, digits_test = data.load("mnist", source="offline"), data.load("mnist", "test", source="offline")
    rng = np.random.default_rng(1)

    def rgb(ds, n):
        i = rng.choice(len(ds), n, replace=False)
        x = np.pad(ds.images[i], ((0, 0), (2, 2), (2, 2), (0, 0)))
        return np.concatenate([x, 255 - x, x // 2], axis=-1), ds.labels[i]

    write_cifar_python(tmp_path, [rgb(digits, 120) for _ in range(5)], rgb(digits_test, 1000))
    out = tmp_path / "out"
    record = run_quick(batchnorm.STUDY, out, "--data-dir", str(tmp_path), "--epochs", "1")
    check_run(out, "batchnorm", metrics=HEADLINE, data_name="cifar10")
    assert "CIFAR-10 python batches" in record["data"]["source"]
    assert "padded" not in record["data"]["source"] and "fallback" not in record["data"]
    assert record["data"]["n_train"] == 600
    assert "samples.png" in {f["file"] for f in record["figures"]}
    assert min(record["metrics"]["test_accuracy_plain_per_seed"]) > 0.2
