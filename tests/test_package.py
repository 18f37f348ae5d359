"""The top-level package: lazy subpackages (PEP 562) and the version."""

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import cnnlab

SUBPACKAGES = ("ops", "nn", "models", "data", "train", "latent", "viz", "summary", "runs", "studies")
ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (so nothing is imported yet) and return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_cnnlab_imports_no_subpackage_and_no_jax():
    out = _python(
        "import sys, cnnlab\nprint(sorted(m for m in sys.modules if m.startswith(('cnnlab.', 'jax', 'flax', 'optax'))))"
    )
    assert out == "[]"


def test_each_subpackage_is_imported_on_first_access_only():
    out = _python(
        "import sys, cnnlab\n"
        "assert 'cnnlab.viz' not in sys.modules\n"
        "ops = cnnlab.ops\n"
        "assert ops is sys.modules['cnnlab.ops'] and ops.__name__ == 'cnnlab.ops'\n"
        "print('cnnlab.viz' in sys.modules, 'cnnlab.latent' in sys.modules)"
    )
    assert out == "False False"


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_subpackage_is_an_attribute(name):
    module = getattr(cnnlab, name)
    assert module.__name__ == f"cnnlab.{name}"
    assert module is importlib.import_module(f"cnnlab.{name}")


def test_names_are_listed():
    assert set(SUBPACKAGES) <= set(cnnlab.__all__)
    assert set(SUBPACKAGES) <= set(dir(cnnlab))
    assert "__version__" in cnnlab.__all__


def test_an_unknown_attribute_raises_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        cnnlab.no_such_thing  # noqa: B018
    assert not hasattr(cnnlab, "no_such_thing")


def test_from_import_works():
    out = _python("from cnnlab import models, ops\nprint(models.__name__, ops.__name__)")
    assert out == "cnnlab.models cnnlab.ops"


def test_version_is_the_installed_metadata():
    assert cnnlab.__version__ == importlib.metadata.version("cnnlab")


def test_the_wheel_lists_every_package_and_no_top_level_experiments():
    # pyproject lists the packages by hand (cnnlab.studies is mapped from experiments/): none may be missed.
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cnnlab").rglob("__init__.py")}
    assert set(tool["packages"]) == found | {"cnnlab.studies"}
    assert tool["package-dir"] == {"cnnlab.studies": "experiments"}
    assert not any(p == "experiments" or p.startswith("experiments.") for p in tool["packages"])


def test_a_users_own_experiments_package_is_left_alone(tmp_path):
    # A project with its own experiments/ beside it: both it and cnnlab's studies import.
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "__init__.py").write_text("MINE = True\n")
    code = (
        "import experiments, cnnlab.studies as studies\n"
        "print(experiments.MINE, studies.get('latent-2d').name, studies.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "latent-2d", "cnnlab.studies"]
