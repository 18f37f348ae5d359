"""The `cnnlab` command's own words: --version, one prefix per error line, plurals, one warning."""

import ast
import dataclasses
import importlib.metadata
import re
import subprocess
import tokenize

import pytest

import cnnlab
import cnnlab.studies as experiments
from cnnlab import cli
from cnnlab.studies import _harness
from tests.experiments.test_cli import CNNLAB
from tests.experiments.test_cli_errors import ROOT, TINY


def test_version_through_the_console_script():
    proc = subprocess.run([CNNLAB, "--version"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"cnnlab {importlib.metadata.version('cnnlab')}\n"
    assert cnnlab.__version__ == importlib.metadata.version("cnnlab")


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_in_process(capsys, flag):
    assert cli.main([flag]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"cnnlab {cnnlab.__version__}"
    name, version = out.split(" ")
    assert version.count(".") >= 2


def test_help_lists_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "--version" in capsys.readouterr().out


# -- one prefix per error line --------------------------------------------------------------


def _error_line(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_report_error_has_one_prefix(capsys, tmp_path):
    line = _error_line(capsys, ["report", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "R.md")])
    assert line.startswith("cnnlab report: error: no results directory")
    assert line.count("cnnlab report:") == 1
    line = _error_line(capsys, ["report", "--results", str(tmp_path), "--out", str(tmp_path / "R.md")])
    assert line.startswith(f"cnnlab report: error: {tmp_path} holds no full run's metrics.json")
    assert line.count("cnnlab report:") == 1


def test_run_errors_have_one_prefix(capsys, tmp_path):
    line = _error_line(capsys, ["run", "mnist-cn"])
    assert line.startswith("cnnlab run: error: unknown experiment 'mnist-cn'") and line.count("cnnlab run") == 1
    line = _error_line(capsys, ["run", "mnist-cnn", "--seed", "-1", "--out", str(tmp_path)])
    assert line.startswith("cnnlab run mnist-cnn: error: --seed") and line.count("error:") == 1


@pytest.mark.parametrize("message", [
    "no results here",
    "cnnlab report: no results here",
    "cnnlab report: error: no results here",
])  # fmt: skip
def test_error_line_says_the_prefix_once(message):
    assert _harness.error_line("cnnlab report", message) == "cnnlab report: error: no results here"


# -- plurals and the offline-data warning: a study that trains one epoch ---------------------


def test_plural():
    assert [_harness.plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert _harness.plural(1, "class", "classes") == "1 class" and _harness.plural(3, "class", "classes") == "3 classes"


def _one_epoch(r):
    import logging

    from cnnlab.data import OFFLINE_ANNOUNCEMENT

    for _ in range(2):  # the library warns once per split it loads: a train and a test split
        logging.getLogger("cnnlab.data").warning("cnnlab.data: %s", OFFLINE_ANNOUNCEMENT)
    TINY.run(r)
    epochs = _harness.plural(r.cfg.epochs, "epoch")
    r.compare(f"loss after {epochs}", 0.5, None, note=f"{epochs} of 16 images, {_harness.plural(1, 'seed')}")
    r.section(f"Trained for {epochs}; 11 epochs would do better.")


@pytest.fixture
def one_epoch(monkeypatch):
    monkeypatch.setattr(experiments, "get", lambda name: dataclasses.replace(TINY, run=_one_epoch))


def test_one_epoch_is_singular_everywhere(capsys, tmp_path, one_epoch):
    assert cli.main(["run", "tiny", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err + (tmp_path / "report.md").read_text()
    assert "1 epoch of 16 examples" in captured.err  # the harness's own lines
    assert "loss after 1 epoch" in captured.out
    assert "Trained for 1 epoch; 11 epochs would do better." in text
    assert "1 epoch of 16 images, 1 seed" in text
    assert not re.search(r"\b1 (epoch|example|image|seed)s\b", text), text


#: Counts a run can make 1 (--epochs 1, a 1-step run, one seed): they must go through plural().
_COUNT_NOUN = re.compile(r"^ (?:training |optimizer )?(epochs|seeds|steps)\b")


def test_studies_write_counts_through_plural():
    # f"{cfg.epochs} epochs" reads "1 epochs" after --epochs 1: the studies say plural(n, "epoch").
    found = []
    for path in sorted((ROOT / "experiments").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                for a, b in zip(node.values, node.values[1:]):
                    if isinstance(a, ast.FormattedValue) and isinstance(b, ast.Constant) and _COUNT_NOUN.match(b.value):
                        found.append(f"{path.name}:{node.lineno}: {{{ast.unparse(a.value)}}}{b.value[:20]}")
    assert not found, "\n".join(found)


def test_the_offline_warning_prints_once_per_run(capsys, tmp_path, one_epoch):
    for out in ("a", "b"):  # and once in the next run in the same process
        assert cli.main(["run", "tiny", "--quiet", "--out", str(tmp_path / out)]) == 0
        err = capsys.readouterr().err
        warnings = [ln for ln in err.splitlines() if "offline MNIST subset" in ln]
        assert warnings == [
            "[tiny] warning: using the 5,000-digit offline MNIST subset; see README for the full set"
        ], err


def test_the_real_offline_data_warns_once(capsys, tmp_path, monkeypatch):
    """Both splits of the real offline subset (where this machine has no other MNIST)."""
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")

    sources = []

    def run(r):
        sources.extend(r.data(split).source for split in ("train", "test"))
        TINY.run(r)

    monkeypatch.setattr(experiments, "get", lambda name: dataclasses.replace(TINY, run=run))
    assert cli.main(["run", "tiny", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    if not all("offline MNIST subset" in source for source in sources):
        pytest.skip(f"MNIST came from elsewhere here: {sources}")
    assert err.count("offline MNIST subset") == 1, err


# -- no internal words in what users read -----------------------------------------------------


def test_studies_do_not_speak_of_the_issue():
    found = []
    for path in sorted((ROOT / "experiments").glob("*.py")):
        with tokenize.open(path) as f:
            for tok in tokenize.generate_tokens(f.readline):
                if tok.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1), tokenize.COMMENT):
                    if re.search(r"\bissue'?s?\b", tok.string, re.IGNORECASE):
                        found.append(f"{path.name}:{tok.start[0]}: {tok.string.strip()[:80]}")
    assert not found, "\n".join(found)
