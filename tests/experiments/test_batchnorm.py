"""`batchnorm`: the quick seed sweep learns on real images, and its spread is what the per-seed numbers say."""

import json

import numpy as np
import pytest

from cnnlab import data
from cnnlab.studies import batchnorm
from cnnlab.studies._runner import run_study
from tests.data._files import write_cifar_python
from tests.experiments._checks import check_run, run_quick

HEADLINE = (
    "test_accuracy_plain",
    "test_accuracy_bn",
    "test_accuracy_plain_std",
    "test_accuracy_bn_std",
    "bn_gain_mean",
    "bn_gain_std",
    "bn_gain_min",
    "bn_gain_max",
    "n_seeds",
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("batchnorm")
    return out, run_quick(batchnorm.STUDY, out)


def test_quick_run_reports_complete(quick):
    out, record = quick
    check_run(out, "batchnorm", metrics=HEADLINE, data_name="fashion_mnist")
    cfg = record["config"]
    d = record["data"]
    assert (d["n_train"], d["n_val"], d["n_test"]) == (cfg["train_size"], cfg["val_size"], cfg["test_size"])
    assert "padded to 32x32" in d["source"]
    names = {f["file"] for f in record["figures"]}
    assert names == {"curves.png", "sweep.png", "seeds.png"}
    gain_row = [row for row in record["references"] if "gain" in row["quantity"]]
    assert len(gain_row) == 1 and gain_row[0]["reference"] == batchnorm.REFERENCE_GAIN
    assert "not the reference's setup" in gain_row[0]["note"]


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
    n_test = record["data"]["n_test"]
    chance, sd = 0.1, np.sqrt(0.1 * 0.9 / n_test)  # 10 classes; binomial sd of chance accuracy
    # The plain network is well above chance after 300 small steps; the batch-norm one clearly above it in
    # evaluation mode (its moving statistics lag this early, see the report) and in training mode.
    assert min(m["test_accuracy_plain_per_seed"]) > 0.4
    assert min(m["test_accuracy_bn_per_seed"]) > chance + 5 * sd
    bn_train = [record["history"][f"bn_seed{s}"][-1]["accuracy"] for s in seeds]
    assert min(bn_train) > 0.3


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
    # Every test image counts: accuracies are multiples of 1 / n_test.
    n_test = record["data"]["n_test"]
    np.testing.assert_allclose(plain * n_test, np.round(plain * n_test), atol=1e-6)
    report = (out / "report.md").read_text()
    assert f"{m['bn_gain_mean']:.4g}" in report


@pytest.mark.parametrize(
    "setting,message",
    [
        ("n_seeds=1", "--set n_seeds must be at least 2; got 1"),
        ("train_size=70000", "train_size must be an int in [1, 60000] (the train split's size) or None; got 70000"),
        ("val_size=0", "--set val_size must be at least 1; got 0"),
    ],
)
def test_bad_configuration_is_a_one_line_error(tmp_path, capsys, setting, message):
    status = run_study(batchnorm.STUDY, ["--quick", "--quiet", "--out", str(tmp_path), "--set", setting])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_mnist_is_refused_by_name(tmp_path, capsys):
    status = run_study(batchnorm.STUDY, ["--quick", "--dataset", "mnist", "--out", str(tmp_path)])
    assert status == 2
    assert "--dataset must be one of 'fashion_mnist', 'cifar10'; got 'mnist'" in capsys.readouterr().err


# ~40 s on 2 CPU cores, a second run of the study; the CIFAR-10 reader has its own tests in tests/data.
@pytest.mark.slow
def test_cifar10_files_train_at_32x32x3_without_padding(tmp_path):
    """The CIFAR-10 path end to end: real images (Fashion-MNIST, padded to 32x32 and made RGB here, in the test)
    written as CIFAR-10 python batches, loaded with --dataset cifar10 --data-dir, trained as 3-channel inputs."""
    fm, fm_test = data.load("fashion_mnist"), data.load("fashion_mnist", "test")
    rng = np.random.default_rng(1)

    def rgb(ds, n):
        i = rng.choice(len(ds), n, replace=False)
        x = np.pad(ds.images[i], ((0, 0), (2, 2), (2, 2), (0, 0)))
        return np.concatenate([x, 255 - x, x // 2], axis=-1), ds.labels[i]

    write_cifar_python(tmp_path, [rgb(fm, 120) for _ in range(5)], rgb(fm_test, 1000))
    out = tmp_path / "out"
    record = run_quick(batchnorm.STUDY, out, "--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1")
    check_run(out, "batchnorm", metrics=HEADLINE, data_name="cifar10")
    assert "CIFAR-10 python batches" in record["data"]["source"]
    assert "padded" not in record["data"]["source"]
    assert record["data"]["n_train"] == 600
    assert min(record["metrics"]["test_accuracy_plain_per_seed"]) > 0.2
