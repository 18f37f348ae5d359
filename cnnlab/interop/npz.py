"""Weights to and from NumPy `.npz` files, keyed by their NNX paths."""

import os
import zipfile

import numpy as np
from flax import nnx

from cnnlab.interop._layers import is_float

__all__ = ["load_npz", "save_npz"]


def _variables(model) -> dict[str, nnx.Variable]:
    """`{"layers/layers/0/conv/kernel": Param, ...}`: every Param and BatchStat under its NNX path."""
    return {
        "/".join(map(str, path)): var
        for path, var in nnx.iter_graph(model)
        if isinstance(var, nnx.Param | nnx.BatchStat)
    }


def save_npz(model, path: str | os.PathLike) -> None:
    """Write every parameter and batch statistic of `model` to an uncompressed `.npz`.

    Keys are NNX paths (`"encoder/layers/0/conv/kernel"` for the `Conv2D` inside a
    `Conv2DMaxPool`); `load_npz` reads them back into a model of the same structure.
    """
    np.savez(path, **{k: np.asarray(v[...]) for k, v in _variables(model).items()})


_NPZ = "an .npz weights file (a zip of .npy arrays keyed by NNX path, as save_npz writes)"


class _NotWeights(ValueError):
    """What in the file makes it not a `save_npz` file."""


def _array(f, key: str) -> np.ndarray:
    try:
        value = f[key]
    except ValueError as e:  # NumPy's message advises allow_pickle=True: never repeated here
        pickled = "pickle" in str(e)
        raise _NotWeights(f"{key} is an object array (pickled Python objects)" if pickled else f"{key}: {e}") from e
    if not isinstance(value, np.ndarray):
        raise _NotWeights(f"{key} is a raw zip member, not a .npy array")
    return value


def _read(path) -> dict[str, np.ndarray]:
    """Every array in a `save_npz` file; ValueError naming the file when it is not one.

    Never with `allow_pickle`: a pickle, or an object array in the file, is refused, not run.
    """
    with open(path, "rb") as f:
        magic = f.read(4)
    try:
        if magic[:2] != b"PK":  # else np.load would take it for a .npy or a pickle
            raise _NotWeights(f"it is not a zip file (it starts with {magic!r})" if magic else "it is empty")
        with np.load(path, allow_pickle=False) as f:
            return {k: _array(f, k) for k in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        why = str(e) if isinstance(e, _NotWeights) else f"{type(e).__name__}: {e}"
        raise ValueError(f"load_npz: {os.fspath(path)!r} is not {_NPZ}: {why}") from None


def load_npz(model, path: str | os.PathLike) -> None:
    """Read a `save_npz` file into `model` in place; every key, shape and dtype must fit.

    Raises:
      ValueError: the file is not an npz of arrays (garbage, object arrays: never unpickled),
        keys missing from the file or the model, a shape mismatch (the message names the key
        and both shapes), or a value that is not floating point. Nothing is written in that case.
    """
    ours = _variables(model)
    stored = _read(path)
    missing, extra = sorted(set(ours) - set(stored)), sorted(set(stored) - set(ours))
    if missing or extra:
        raise ValueError(f"load_npz: {os.fspath(path)!r} does not fit the model: missing {missing}, unexpected {extra}")
    for k, var in ours.items():
        if stored[k].shape != tuple(var.shape):
            raise ValueError(f"load_npz: {k} has shape {tuple(var.shape)} in the model, {stored[k].shape} in the file")
        if not is_float(stored[k].dtype):
            raise ValueError(f"load_npz: {k} has dtype {stored[k].dtype} in the file; weights must be floating point")
    for k, var in ours.items():
        var[...] = stored[k].astype(var.dtype)
