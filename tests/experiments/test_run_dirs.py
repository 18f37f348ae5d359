"""Run directories: quick runs have their own, and no run writes over an earlier run's results
unless told to (``--force``; ``--resume`` continues that run)."""

import json
import os

import pytest

import experiments
from cnnlab import cli
from tests.experiments.test_cli_errors import TINY


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setattr(experiments, "get", lambda name: TINY)
    monkeypatch.chdir(tmp_path)


def _files(d):
    return {p: (d / p).read_bytes() for p in sorted(os.listdir(d))}


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
