"""The `cnnlab` command: list, run (through the installed console script), report, and one-line errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnlab.studies as experiments
from cnnlab import cli
from tests.experiments._checks import check_run, run_quick

CNNLAB = shutil.which("cnnlab") or str(Path(sys.executable).with_name("cnnlab"))


def test_list_names_every_experiment_with_a_summary():
    proc = subprocess.run([CNNLAB, "list"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name in experiments.EXPERIMENTS:
        (line,) = [ln for ln in lines if ln.split(" ", 1)[0] == name]
        assert len(line.split(None, 1)[1]) > 20, f"{name} has no real summary: {line!r}"


def test_run_through_the_console_script_writes_a_complete_run(tmp_path):
    out = tmp_path / "mc"
    proc = subprocess.run(
        [CNNLAB, "run", "mnist-cnn", "--quick", "--out", str(out), "--seed", "3"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = check_run(out, "mnist-cnn", metrics=("test_accuracy",))
    assert record["config"]["seed"] == 3
    assert record["command"] == f"cnnlab run mnist-cnn --quick --out {out} --seed 3"
    # Progress on stderr, and the last words say where the report is.
    assert "[mnist-cnn] training" in proc.stderr
    assert f"open {out}/report.md" in proc.stdout


def _error(capsys, argv) -> str:
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_experiment_lists_the_known_ones(capsys):
    line = _error(capsys, ["run", "mnist-cn"])
    assert "unknown experiment 'mnist-cn'" in line
    for name in experiments.EXPERIMENTS:
        assert name in line


def test_data_dir_without_the_files_says_which_files(capsys, tmp_path):
    line = _error(capsys, ["run", "mnist-cnn", "--quick", "--quiet", "--data-dir", str(tmp_path),
                           "--out", str(tmp_path / "o")])  # fmt: skip
    assert f"--data-dir {tmp_path}" in line
    assert "train-images-idx3-ubyte" in line and "mnist.npz" in line


def test_missing_data_dir(capsys, tmp_path):
    line = _error(capsys, ["run", "mnist-cnn", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert "no such directory" in line


def test_unwritable_out(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = _error(capsys, ["run", "mnist-cnn", "--quick", "--out", str(blocker / "sub")])
    assert f"--out {blocker / 'sub'}: cannot write there" in line


@pytest.mark.parametrize("argv,words", [
    (["--epochs", "-1"], "--epochs must be at least 1; got -1"),
    (["--epochs", "0"], "--epochs must be at least 1; got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1; got 0"),
    (["--dataset", "imagenet"], "--dataset must be one of 'mnist', 'fashion_mnist'; got 'imagenet'"),
])  # fmt: skip
def test_bad_numbers_and_names(capsys, tmp_path, argv, words):
    line = _error(capsys, ["run", "mnist-cnn", "--quick", "--quiet", "--out", str(tmp_path), *argv])
    assert words in line


def test_batch_larger_than_the_dataset(capsys, tmp_path):
    line = _error(capsys, ["run", "mnist-cnn", "--quick", "--quiet", "--out", str(tmp_path), "--batch-size", "100000"])
    assert "--batch-size 100000 is larger than the 4000 training examples" in line


def _fake_run(folder: Path, *, quick: bool, acc: float) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (150, 250), dtype=np.uint8)).save(folder / "curves.png")
    record = {
        "experiment": "mnist-cnn", "summary": "MnistCNN with Adam", "command": "cnnlab run mnist-cnn",
        "quick": quick, "config": {}, "data": {"name": "mnist", "source": "somewhere", "n_train": 4000, "n_test": 1000},
        "metrics": {"test_accuracy": acc},
        "references": [{"quantity": "test accuracy", "ours": acc, "reference": 0.982, "source": "Keras", "note": "n"}],
        "history": {}, "figures": [{"file": "curves.png", "caption": "The curves."}], "versions": {}, "device": "cpu",
        "wall_seconds": 12.0, "sections": ["Conclusion: the small network is enough."],
    }  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(record))


def test_report_tables_full_runs_and_skips_quick_ones(capsys, tmp_path):
    results = tmp_path / "results"
    _fake_run(results / "mnist-cnn", quick=False, acc=0.9712)
    _fake_run(results / "quick-one", quick=True, acc=0.5)
    out = tmp_path / "docs" / "RESULTS.md"
    assert cli.main(["report", "--results", str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## mnist-cnn" in text
    assert "| test accuracy | 0.9712 | 0.982 | Keras | n |" in text
    assert "`cnnlab run mnist-cnn`" in text and "4,000 train" in text
    assert "0.5 " not in text and "quick-one" not in text
    # Every other study is named as not rerun yet, and mnist-cnn (which has a full run) is not.
    missing_line = next(line for line in text.splitlines() if line.startswith("Not here yet"))
    assert "`lenet`" in missing_line and "`segmentation`" in missing_line and "`mnist-cnn`" not in missing_line
    assert (tmp_path / "docs" / "results" / "mnist-cnn" / "curves.png").is_file()
    assert "![curves.png](results/mnist-cnn/curves.png)" in text
    assert "Conclusion: the small network is enough." in text  # a study's conclusions reach RESULTS.md
    # One writer: the run's section in RESULTS.md is its report.md, figures pointed at their copies.
    from cnnlab.studies._report import render_run

    record = json.loads((results / "mnist-cnn" / "metrics.json").read_text())
    section = render_run(record, level=2, figures_at="results/mnist-cnn/", title="mnist-cnn: MnistCNN with Adam")
    assert section in text


def test_report_keeps_the_sections_of_studies_not_rerun(tmp_path):
    results = tmp_path / "results"
    _fake_run(results / "mnist-cnn", quick=False, acc=0.9712)
    out = tmp_path / "docs" / "RESULTS.md"
    out.parent.mkdir(parents=True)
    earlier = ["# Results", "", "intro", "", "## conv-basics: kernels", "", "old conv text", "",
               "## mnist-cnn: stale", "", "| test accuracy | 0.5 |", "", "## lenet: LeNet-5", "", "### curves",
               "old lenet text", ""]  # fmt: skip
    out.write_text("\n".join(earlier))
    assert cli.main(["report", "--results", str(results), "--out", str(out), "--no-figures"]) == 0
    text = out.read_text()
    assert "old conv text" in text and "### curves\nold lenet text" in text  # kept, subsections included
    assert "stale" not in text and "| test accuracy | 0.9712 |" in text  # the new run replaces its old section
    # In the studies' order: conv-basics, mnist-cnn, lenet; the kept ones are not "not here yet".
    assert text.index("## conv-basics") < text.index("## mnist-cnn") < text.index("## lenet")
    missing = next(line for line in text.splitlines() if line.startswith("Not here yet"))
    assert "`lenet`" not in missing and "`conv-basics`" not in missing and "`segmentation`" in missing
    assert text.count("## lenet") == 1 and "intro" not in text


def test_report_without_results_is_an_error(capsys, tmp_path):
    line = _error(capsys, ["report", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "R.md")])
    assert "no results directory" in line


def test_a_device_jax_lacks_is_a_one_line_error(tmp_path):
    # A fresh process: choosing a platform must happen before JAX starts its backends.
    proc = subprocess.run([CNNLAB, "run", "mnist-cnn", "--quick", "--device", "tpu", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "--device tpu: JAX has no tpu backend here" in proc.stderr


def test_set_overrides_a_study_setting(tmp_path):
    from cnnlab.studies import mnist_cnn

    record = run_quick(mnist_cnn.STUDY, tmp_path, "--set", "learning_rate=3e-3")
    assert record["config"]["learning_rate"] == 3e-3
    assert "--set learning_rate=3e-3" in record["command"]


@pytest.mark.parametrize("setting,words", [
    ("momentum=0.9", "--set momentum: mnist-cnn has no such setting; its settings: dataset, epochs"),
    ("learning_rate=fast", "--set learning_rate must be a finite number; got 'fast'"),
    ("learning_rate", "--set 'learning_rate': write KEY=VALUE"),
])  # fmt: skip
def test_set_errors(capsys, tmp_path, setting, words):
    line = _error(capsys, ["run", "mnist-cnn", "--quick", "--quiet", "--out", str(tmp_path), "--set", setting])
    assert words in line
