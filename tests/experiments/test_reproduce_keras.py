"""`cnnlab.studies.reproduce_keras`: the quick configuration end to end, and the missing-framework message."""

import subprocess
import sys
from pathlib import Path

import keras  # noqa: F401  Keras probes for torch when first imported: import it before hiding torch
import pytest

from cnnlab.studies import reproduce_keras
from cnnlab.studies._harness import UsageError
from tests.experiments._checks import check_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~45 s on 2 CPU cores: two Keras fits and predicts compile, torch trains, three jits
def test_quick_run_writes_metrics_figures_and_report(tmp_path):
    """Run as users do, `python -m cnnlab.studies.reproduce_keras --quick --out DIR`, in a fresh process."""
    out = tmp_path / "rk"
    proc = subprocess.run(
        [sys.executable, "-m", "cnnlab.studies.reproduce_keras", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = check_run(out, "reproduce-keras", metrics=("ae_max_abs_diff", "cnn_max_abs_diff"), data_name="mnist")
    metrics = record["metrics"]
    assert metrics["all_ok"] is True
    assert metrics["ae_max_abs_diff"] <= 1e-5
    assert metrics["cnn_max_abs_diff"] <= 1e-5
    assert metrics["lenet5_max_abs_diff"] <= 1e-4
    assert (out / "conv_autoencoder.weights.h5").stat().st_size > 0
    # Seed 000: the weights saved as NumPy, rerun one cnnlab.ops call at a time, give Keras's output; the
    # encoder and decoder tables total the seed's printed 1,904 and 2,481, as Keras counts them too.
    assert metrics["seed000_op_by_op_max_abs_diff"] <= 1e-5
    assert metrics["seed000_params"] == {"encoder": [1904, 1904, 1904], "decoder": [2481, 2481, 2481]}
    assert metrics["ok"]["seed000_params"] is True and (out / "seed000_weights.npz").stat().st_size > 0
    figures = {f["file"]: f["caption"] for f in record["figures"]}
    assert "Adadelta(learning_rate=0.5, rho=0.95)" in figures["seed000_figure_1_2.png"]
    assert record["config"]["ae_batch_size"] == 128 and record["config"]["ae_epochs"] == 2  # --quick: fewer epochs
    # The models trained in Keras and PyTorch are kept as cnnlab models, with their layer tables.
    assert sorted(record["models"]) == ["keras_autoencoder", "keras_cnn", "torch_lenet5"]
    report = (out / "report.md").read_text()
    assert "Total params" in report and "| **Total params** | | | | | **1,904** | **1,904** | **1,904** |" in report
    assert "| 16 | `my_conv2d(z, decoder.layers[4])` | `ops.conv2d(padding='VALID')` | (None, 14, 14, 16) |" in report


@pytest.mark.parametrize("missing,needed", [("torch", "torch"), ("keras", "keras>=3")])
def test_missing_framework_names_what_to_install(monkeypatch, missing, needed):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import missing` raise ImportError
    with pytest.raises(UsageError, match=rf"reproduce-keras needs {needed}.*pip install 'cnnlab\[interop\]'"):
        reproduce_keras._require_frameworks()
