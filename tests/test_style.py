"""The package is formatted and linted as pyproject.toml's [tool.ruff] says (`ruff format`, `ruff check`)."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ruff(*args):
    exe = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    if not os.path.exists(exe):
        pytest.fail("ruff is not installed; it is part of the test extras: pip install -e '.[test]'")
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=ROOT)


def test_the_package_is_ruff_formatted():
    proc = _ruff("format", "--check", "cnnlab", "experiments")  # experiments/ installs as cnnlab.studies
    assert proc.returncode == 0, f"run `ruff format cnnlab experiments`:\n{proc.stdout}{proc.stderr}"


def test_the_package_passes_ruff_check():
    proc = _ruff("check", "cnnlab", "experiments")
    assert proc.returncode == 0, proc.stdout + proc.stderr
