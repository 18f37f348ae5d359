"""Saved runs: the models a study trained, kept beside its results, and `load` to get them back.

Every ``cnnlab run NAME`` keeps each model it trained in its run directory, under
``models/TAG/``, as an orbax checkpoint (`cnnlab.train.Checkpointer`: the arrays with their
sha256) whose meta holds the model's `cnnlab.models.spec`, what rebuilds the architecture.
``metrics.json`` lists them under ``"models"``. `load` returns the models with the run's
config and metrics, without training:

    >>> run = cnnlab.runs.load("results/quick/latent-2d")       # doctest: +SKIP
    >>> run.config["epochs"], sorted(run.models)                # doctest: +SKIP
    (2, ['model'])
    >>> z = cnnlab.latent.encode(run.model(), images)           # doctest: +SKIP

Loading reads JSON and arrays only: the class comes from `cnnlab.models.ZOO` by name and
the paths must lie inside the run directory, so a run directory cannot make cnnlab import
or run code.
"""

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

from flax import nnx

from cnnlab.models import registry
from cnnlab.train.checkpoint import Checkpointer, CheckpointError

__all__ = ["RunError", "SavedRun", "keep_models", "load", "load_model", "save_model"]


class RunError(ValueError):
    """A directory that is not a readable run, or a model it does not hold."""


@dataclasses.dataclass(frozen=True)
class SavedRun:
    """A finished run, loaded.

    Attributes:
      directory: the run directory.
      experiment: the study's name (``"latent-2d"``).
      config: the study's full configuration, as ``metrics.json`` records it.
      metrics: its headline numbers.
      models: the kept models by tag (``"model"``, ``"lenet"``, ``"sweep/seed=0"``).
      record: everything ``metrics.json`` holds.
    """

    directory: Path
    experiment: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    models: dict[str, nnx.Module]
    record: dict[str, Any]

    def model(self, tag: str | None = None) -> nnx.Module:
        """The model ``tag``; without a tag, the run's only model (an error names the tags if it has several)."""
        if tag is None and len(self.models) == 1:
            return next(iter(self.models.values()))
        if tag not in self.models:
            held = ", ".join(self.models) or "none"
            raise RunError(f"{self.directory}: pick a model by tag; it holds {held}, not {tag!r}")
        return self.models[tag]


def save_model(directory: str | os.PathLike, model: nnx.Module) -> dict:
    """Writes ``model``'s state to ``directory`` (which must not hold a saved model yet); returns its spec.

    Raises:
      TypeError: ``model`` is not a zoo model (`cnnlab.models.spec`).
      CheckpointError: the directory holds one already, or cannot be written.
    """
    model_spec = registry.spec(model)
    if os.path.isdir(directory) and os.listdir(directory):
        raise CheckpointError(f"save_model: {directory} is not empty; a kept model is never overwritten")
    ckpt = Checkpointer(directory, keep=1)
    try:
        state = nnx.to_pure_dict(nnx.state(model))
        ckpt.save(0, {"model": state}, {"spec": model_spec})
    finally:
        ckpt.close()
    return model_spec


def load_model(directory: str | os.PathLike) -> nnx.Module:
    """The model `save_model` wrote in ``directory``, rebuilt and filled with its arrays (checksums checked).

    Raises:
      RunError: no saved model there, or its spec names no zoo model.
      CheckpointError: the arrays are missing, corrupted or of another shape.
    """
    try:
        ckpt = Checkpointer(directory, read_only=True)
    except CheckpointError:
        raise RunError(f"{directory}: no saved model there") from None
    try:
        epoch = ckpt.latest()
        if epoch is None:
            raise RunError(f"{directory}: no saved model there")
        model_spec = ckpt.read_meta(epoch).get("spec")
        try:
            abstract = nnx.eval_shape(lambda: registry.build(model_spec))
        except ValueError as e:
            raise RunError(f"{directory}: {e}") from None
        graphdef, state = nnx.split(abstract)
        restored, _ = ckpt.restore(epoch, {"model": nnx.to_pure_dict(state)})
    finally:
        ckpt.close()
    nnx.replace_by_pure_dict(state, restored["model"])
    return nnx.merge(graphdef, state)


def keep_models(run_dir: str | os.PathLike, models: dict[str, nnx.Module], *, log=print) -> dict[str, dict]:
    """Saves ``models`` (by tag) as ``RUN_DIR/models/TAG``, replacing the ``models/`` of an earlier run there.

    The new models are written beside the old ones first and swapped in when all are written,
    so a failure leaves the earlier run's models whole. A model that is not one of
    `cnnlab.models`' zoo is not kept, and ``log`` says so. Returns what ``metrics.json``
    lists under ``"models"``: per tag, its ``path`` (relative to the run) and spec.
    """
    root = Path(run_dir)
    fresh, final = root / ".models-new", root / "models"
    shutil.rmtree(fresh, ignore_errors=True)  # a run killed while keeping its models
    listed = {}
    for tag, model in models.items():
        try:
            listed[tag] = {"path": f"models/{tag}", **save_model(fresh / tag, model)}
        except TypeError as e:
            log(f"model {tag} not kept: {e}")
    if final.exists():
        old = root / ".models-old"
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        shutil.rmtree(old)
    if listed:
        fresh.rename(final)
    return listed


def load(run_dir: str | os.PathLike) -> SavedRun:
    """A run directory's models, config and metrics (``cnnlab run`` wrote them), without training.

    Raises:
      RunError: no ``metrics.json`` (not a run, or one that did not finish), a malformed one,
        or a listed model that is missing or lies outside the run directory.
    """
    directory = Path(run_dir)
    record = _record(directory)
    models = {}
    for tag, entry in record.get("models", {}).items():
        path = (directory / str(entry.get("path", ""))).resolve()
        if directory.resolve() not in path.parents:
            raise RunError(f"{directory}: model {tag!r} lies outside the run directory ({entry.get('path')!r})")
        models[tag] = load_model(path)
    return SavedRun(
        directory=directory,
        experiment=str(record.get("experiment", "")),
        config=dict(record.get("config", {})),
        metrics=dict(record.get("metrics", {})),
        models=models,
        record=record,
    )


def _record(directory: Path) -> dict:
    """``metrics.json`` of the run in ``directory``, checked to be an object."""
    path = directory / "metrics.json"
    if not directory.is_dir():
        raise RunError(f"{directory}: no such run directory")
    if not path.is_file():
        raise RunError(f"{directory}: not a finished run (no metrics.json); run `cnnlab run NAME --out {directory}`")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunError(f"{path}: cannot be read as JSON ({e})") from None
    if not isinstance(record, dict) or not isinstance(record.get("models", {}), dict):
        raise RunError(f"{path}: not a cnnlab run record")
    return record
