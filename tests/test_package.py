"""The top-level package: lazy subpackages (PEP 562) and the version."""

import importlib.metadata
import subprocess
import sys

import pytest

import cnnlab

SUBPACKAGES = ("ops", "nn", "models", "data", "train", "latent", "viz", "summary")


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
