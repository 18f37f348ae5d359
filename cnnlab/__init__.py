"""cnnlab: the classic convolutional-network toolkit, reimplemented in JAX.

``import cnnlab`` is cheap: it imports no JAX. Each subpackage is imported the first time
it is used (PEP 562), so ``cnnlab.ops``, ``cnnlab.nn``, ``cnnlab.models``, ``cnnlab.data``,
``cnnlab.train``, ``cnnlab.latent``, ``cnnlab.viz``, ``cnnlab.runs`` (saved runs),
``cnnlab.studies`` (the experiments) and ``cnnlab.summary`` work after a bare ``import cnnlab``:

>>> import cnnlab
>>> cnnlab.ops.__name__
'cnnlab.ops'
>>> cnnlab.nonexistent
Traceback (most recent call last):
    ...
AttributeError: module 'cnnlab' has no attribute 'nonexistent'
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("cnnlab")
except _metadata.PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: The subpackages ``cnnlab.NAME`` imports on first use.
SUBMODULES = ("data", "latent", "metrics", "models", "nn", "ops", "runs", "studies", "summary", "train", "viz")

__all__ = ["__version__", *SUBMODULES]


def __getattr__(name: str):
    if name in SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module  # later look-ups skip this function
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBMODULES))
