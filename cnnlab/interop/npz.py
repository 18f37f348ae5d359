"""Weights to and from NumPy `.npz` files, keyed by their NNX paths."""

import os

import numpy as np
from flax import nnx

__all__ = ["load_npz", "save_npz"]


def _variables(model) -> dict[str, nnx.Variable]:
    """`{"layers/0/kernel": Param, ...}`: every Param and BatchStat under its NNX path."""
    return {
        "/".join(map(str, path)): var
        for path, var in nnx.iter_graph(model)
        if isinstance(var, nnx.Param | nnx.BatchStat)
    }


def save_npz(model, path: str | os.PathLike) -> None:
    """Write every parameter and batch statistic of `model` to an uncompressed `.npz`.

    Keys are NNX paths (`"encoder/layers/0/kernel"`); `load_npz` reads them back into a
    model of the same structure.
    """
    np.savez(path, **{k: np.asarray(v[...]) for k, v in _variables(model).items()})


def load_npz(model, path: str | os.PathLike) -> None:
    """Read a `save_npz` file into `model` in place; every key and shape must match.

    Raises:
      ValueError: keys missing from the file or the model, or a shape mismatch (the
        message names the key and both shapes). Nothing is written in that case.
    """
    ours = _variables(model)
    with np.load(path) as f:
        stored = {k: f[k] for k in f.files}
    missing, extra = sorted(set(ours) - set(stored)), sorted(set(stored) - set(ours))
    if missing or extra:
        raise ValueError(f"load_npz: {os.fspath(path)!r} does not fit the model: missing {missing}, unexpected {extra}")
    for k, var in ours.items():
        if stored[k].shape != tuple(var.shape):
            raise ValueError(f"load_npz: {k} has shape {tuple(var.shape)} in the model, {stored[k].shape} in the file")
    for k, var in ours.items():
        var[...] = stored[k].astype(var.dtype)
