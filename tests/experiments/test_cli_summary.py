"""`cnnlab summary MODEL`: the Keras-style per-layer table on the command line."""

import re
import subprocess

import pytest

from cnnlab import cli, summary
from tests.experiments.test_cli import CNNLAB


def test_summary_through_the_console_script():
    proc = subprocess.run([CNNLAB, "summary", "ConvAutoencoder"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith('Model: "ConvAutoencoder", input (None, 28, 28, 1)')
    counts = [int(m.group(1).replace(",", "")) for m in re.finditer(r"\) +([\d,]+)$", out, re.M)]
    assert counts[:13] == [160, 0, 1160, 0, 584, 0, 584, 0, 584, 0, 1168, 0, 145]
    assert counts[13:] == [1904, 2481]  # the encoder's and decoder's subtotals
    assert "Total params: 4,385" in out
    assert proc.stderr == ""


@pytest.mark.parametrize("name", summary.model_names())
def test_every_model_by_name(capsys, name):
    assert cli.main(["summary", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f'Model: "{name}"') and "Total params: " in out


def test_input_shape_override(capsys):
    assert cli.main(["summary", "Segmenter", "--input-shape", "32,32,1"]) == 0
    out = capsys.readouterr().out
    assert "input (None, 32, 32, 1)" in out
    assert re.search(r"^head \(Conv2D\) +\(None, 32, 32, 2\) +34$", out, re.M), out


def _error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", captured.err
    assert lines[0].startswith("cnnlab summary: error: ") and lines[0].count("cnnlab summary") == 1
    return lines[0]


def test_unknown_model_is_one_line_with_the_known_names(capsys):
    line = _error(capsys, ["summary", "ConvAutoencodr"])
    assert "unknown model 'ConvAutoencodr'" in line
    for name in summary.model_names():
        assert name in line


@pytest.mark.parametrize("argv,words", [
    (["MnistCNN", "--input-shape", "a,b"], "--input-shape must be positive whole numbers like 28,28,1"),
    (["MnistCNN", "--input-shape", "28,0,1"], "--input-shape must be positive whole numbers"),
    (["MnistCNN", "--input-shape", "28,28,3"], "MnistCNN does not take inputs of shape 28,28,3"),
    (["Segmenter", "--input-shape", "30,30,1"], "H and W multiples of 4"),
])  # fmt: skip
def test_bad_input_shape_is_one_line(capsys, argv, words):
    assert words in _error(capsys, ["summary", *argv])
