"""Checks shared by the experiment tests: what a report needs is in metrics.json, figures are real images."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from cnnlab.studies import _runner

#: Top-level fields every metrics.json must hold (the report and `cnnlab report` read them).
FIELDS = (
    "experiment",
    "command",
    "quick",
    "config",
    "data",
    "metrics",
    "references",
    "history",
    "figures",
    "versions",
    "device",
    "wall_seconds",
    "run_id",
    "git_commit",
    "environment",
    "models",
    "model_summaries",
)


def check_png(path: Path, *, min_size=(200, 120)) -> np.ndarray:
    """Asserts ``path`` is a PNG at least ``min_size`` (w, h) pixels with visible content; returns its pixels."""
    assert path.is_file(), f"missing figure {path}"
    with Image.open(path) as im:
        assert im.format == "PNG", f"{path} is {im.format}, not PNG"
        w, h = im.size
        assert w >= min_size[0] and h >= min_size[1], f"{path} is only {w}x{h} pixels"
        a = np.asarray(im.convert("L"), np.float32)
    # A blank or single-colour figure has (almost) no spread; a drawn one has plenty.
    assert a.std() > 5.0, f"{path} looks blank (pixel std {a.std():.2f})"
    assert len(np.unique(a)) > 8, f"{path} has only {len(np.unique(a))} grey levels"
    return a


def check_run(out: Path, name: str, *, metrics=(), data_name=None) -> dict:
    """Asserts ``out`` holds a complete run of study ``name``; returns its metrics.json.

    Args:
      out: the run's output directory.
      name: the study's name.
      metrics: headline metric names that must be present and finite numbers.
      data_name: the dataset name ``data.name`` must equal, when given.
    """
    record = json.loads((out / "metrics.json").read_text())
    for f in FIELDS:
        assert f in record, f"metrics.json lacks {f!r}"
    assert record["experiment"] == name
    for k in ("name", "source"):
        assert record["data"].get(k), f"metrics.json data lacks {k!r}"
    if data_name is not None:
        assert record["data"]["name"] == data_name
    for k in metrics:
        v = record["metrics"].get(k)
        assert isinstance(v, int | float) and np.isfinite(v), f"metric {k!r} is {v!r}"
    assert record["figures"], "no figures recorded"
    report = (out / "report.md").read_text()
    for fig in record["figures"]:
        check_png(out / fig["file"])
        assert f"]({fig['file']})" in report, f"report.md does not show {fig['file']}"
    # Every kept model is on disk, rebuildable, and its architecture's layer table is in the report.
    for tag, entry in record["models"].items():
        assert (out / entry["path"]).is_dir() and entry["class"], f"model {tag!r} is not kept"
    for entry in record["model_summaries"]:
        assert entry["table"] in report and "Total params:" in entry["table"]
    assert {t for e in record["model_summaries"] for t in e["tags"]} <= set(record["models"])
    return record


def run_quick(study, out: Path, *extra: str) -> dict:
    """Runs ``study`` in this process with ``--quick --quiet --out out``; asserts it succeeded."""
    status = _runner.run_study(study, ["--quick", "--quiet", "--out", str(out), *extra])
    assert status == 0, f"{study.name} --quick exited with {status}"
    return json.loads((out / "metrics.json").read_text())
