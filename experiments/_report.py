"""``cnnlab report``: rebuilds ``docs/RESULTS.md`` from the ``results/*/metrics.json`` of full runs.

One section per study (in `experiments.EXPERIMENTS` order, one per results folder: a
study run on two datasets has two), each with its table of our numbers beside the
reference numbers, the data it ran on, the command that reproduces it, and its figures
copied to ``docs/results/FOLDER/`` so the page shows them. Quick runs (``--quick``) are
skipped: their numbers are not comparable to the references.
"""

import json
import shutil
from pathlib import Path

from . import EXPERIMENTS
from ._harness import _fmt

__all__ = ["build"]


def _load(results: Path) -> list[tuple[Path, dict]]:
    found = []
    for path in sorted(results.glob("*/metrics.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(record, dict) and record.get("experiment") and not record.get("quick", True):
            found.append((path.parent, record))
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    found.sort(key=lambda pr: (order.get(pr[1]["experiment"], len(order)), pr[0].name))
    return found


def build(results: str | Path = "results", out: str | Path = "docs/RESULTS.md", *, figures: bool = True) -> Path:
    """Writes ``out`` from the full runs under ``results``; returns its path.

    Args:
      results: the directory holding one folder per run (``results/mnist-cnn/`` ...).
      out: the markdown file to write.
      figures: copy each run's figures next to ``out`` (``docs/results/FOLDER/``) and show them.

    Raises:
      FileNotFoundError: ``results`` does not exist or holds no full run.
    """
    results, out = Path(results), Path(out)
    if not results.is_dir():
        raise FileNotFoundError(f"cnnlab report: no results directory {results}; run a study first (cnnlab run NAME)")
    runs = _load(results)
    if not runs:
        raise FileNotFoundError(
            f"cnnlab report: {results} holds no full run's metrics.json (quick runs are skipped); run `cnnlab run NAME`"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Results",
        "",
        "Full runs of each study, our numbers beside the numbers of the classic study it reproduces.",
        "Rebuilt by `cnnlab report` from `results/*/metrics.json`; each section gives the command",
        "that reproduces it. References marked as goals (`>= x`) are targets cnnlab set, not",
        "published numbers. Every run here ran on the machine its section names; wall times",
        "are as measured, compilation included, and grow when other jobs share the machine.",
        "",
    ]
    for folder, r in runs:
        d = r.get("data", {})
        counts = " / ".join(f"{d[k]:,} {k[2:]}" for k in sorted(d, reverse=True) if k.startswith("n_"))
        lines += [f"## {r['experiment']}" + (f" ({folder.name})" if folder.name != r["experiment"] else ""), ""]
        lines += [f"{r.get('summary', '')}", ""]
        lines += [
            f"- Command: `{r['command']}`",
            f"- Data: {d.get('name', '?')} ({counts}). Source: {d.get('source', '?')}",
        ]
        lines += [f"- Device: {r.get('device', '?')}; wall time {r.get('wall_seconds', 0):.0f} s", ""]
        if r.get("references"):
            lines += ["| quantity | cnnlab | reference | reference source | note |", "| --- | --- | --- | --- | --- |"]
            for row in r["references"]:
                lines.append(
                    f"| {row['quantity']} | {_fmt(row['ours'])} | {_fmt(row['reference'])} | "
                    f"{row.get('source', '')} | {row.get('note', '')} |"
                )
            lines.append("")
        if figures:
            dest = out.parent / "results" / folder.name
            dest.mkdir(parents=True, exist_ok=True)
            for fig in r.get("figures", []):
                src = folder / fig["file"]
                if src.is_file():
                    shutil.copyfile(src, dest / fig["file"])
                    rel = dest.relative_to(out.parent) / fig["file"]
                    lines += [f"![{fig['file']}]({rel.as_posix()})", "", f"*{fig['caption']}*", ""]
    out.write_text("\n".join(lines))
    return out
