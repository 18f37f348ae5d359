"""Run directories: quick runs have their own, and no run writes over an earlier run's results
unless told to (``--force``; ``--resume`` continues that run)."""

import dataclasses
import json

import pytest

import cnnlab.studies as experiments
from cnnlab import cli
from tests.experiments.test_cli_errors import TINY


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setattr(experiments, "get", lambda name: TINY)
    monkeypatch.chdir(tmp_path)


def _files(d):
    """Every file under ``d`` (figures, metrics, kept models, checkpoints), by relative path, with its bytes."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_quick_runs_go_to_their_own_directory_and_leave_a_full_run_untouched(tiny, tmp_path, capsys):
    assert cli.main(["run", "tiny", "--quiet"]) == 0
    full = tmp_path / "results" / "tiny"
    before = _files(full)
    assert json.loads(before["metrics.json"])["quick"] is False
    assert cli.main(["run", "tiny", "--quiet", "--quick"]) == 0
    quick = tmp_path / "results" / "quick" / "tiny"
    assert json.loads((quick / "metrics.json").read_text())["quick"] is True
    assert _files(full) == before  # byte for byte


def test_a_second_run_into_the_same_directory_is_refused_without_force(tiny, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["run", "tiny", "--quiet", "--out", str(out)]) == 0
    before = _files(out)
    finished = json.loads(before["metrics.json"])["finished"]
    capsys.readouterr()
    assert cli.main(["run", "tiny", "--quiet", "--out", str(out), "--set", "learning_rate=0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"cnnlab run tiny: error: --out {out}: holds the results of a full run of {finished}; pass --force to "
        "replace them, or --out DIR for another directory"
    ]
    assert _files(out) == before
    assert cli.main(["run", "tiny", "--quiet", "--out", str(out), "--set", "learning_rate=0.1", "--force"]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["learning_rate"] == 0.1


def test_resume_continues_into_its_own_directory(tiny, tmp_path):
    out = tmp_path / "o"
    assert cli.main(["run", "tiny", "--quiet", "--out", str(out), "--resume"]) == 0
    assert cli.main(["run", "tiny", "--quiet", "--out", str(out), "--resume"]) == 0


def _sweep(r):
    from tests.train._models import Softmax, blobs

    optimizer = {"name": "sgd", "learning_rate": r.cfg.learning_rate}
    _, hists = r.fit_many(lambda rngs: Softmax(64, 3, rngs=rngs), [0, 1], blobs(16), loss="softmax_cross_entropy",
                          optimizer=optimizer)  # fmt: skip
    r.data_info.update(name="blobs", source="tests.train._models.blobs", n_train=16)
    r.metrics["mean_loss"] = sum(h["loss"][-1] for h in hists) / 2


SWEEP = dataclasses.replace(TINY, name="sweep", run=_sweep)


def test_a_sweep_logs_one_line_per_epoch_with_the_members_mean(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(experiments, "get", lambda name: SWEEP)
    assert cli.main(["run", "sweep", "--epochs", "2", "--out", str(tmp_path / "o")]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if " epoch " in ln]
    record = json.loads((tmp_path / "o" / "metrics.json").read_text())
    last = [record["history"][f"sweep/seed={s}"][-1]["loss"] for s in (0, 1)]
    assert [ln.split(",")[0] for ln in lines] == ["[sweep] sweep epoch 1/2", "[sweep] sweep epoch 2/2"]
    assert lines[-1].startswith(f"[sweep] sweep epoch 2/2, mean of 2: loss {sum(last) / 2:.4g}")
