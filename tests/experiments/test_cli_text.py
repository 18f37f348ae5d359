"""The `cnnlab` command's own words: --version, one prefix per error line, plurals, one warning."""

import importlib.metadata
import subprocess

import pytest

import cnnlab
from cnnlab import cli
from tests.experiments.test_cli import CNNLAB


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
