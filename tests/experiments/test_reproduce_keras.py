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
    # The models trained in Keras and PyTorch are kept as cnnlab models, with their layer tables.
    assert sorted(record["models"]) == ["keras_autoencoder", "keras_cnn", "torch_lenet5"]
    assert "Total params" in (out / "report.md").read_text()


@pytest.mark.parametrize("missing,needed", [("torch", "torch"), ("keras", "keras>=3")])
def test_missing_framework_names_what_to_install(monkeypatch, missing, needed):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import missing` raise ImportError
    with pytest.raises(UsageError, match=rf"reproduce-keras needs {needed}.*pip install 'cnnlab\[interop\]'"):
        reproduce_keras._require_frameworks()
