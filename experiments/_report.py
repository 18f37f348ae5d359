"""Markdown from runs: each run's ``report.md`` (`render_run`), and ``cnnlab report``, which rebuilds
``docs/RESULTS.md`` from the ``results/*/metrics.json`` of full runs with the same writer.

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

__all__ = ["build", "render_run"]


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


def render_run(record: dict, *, level: int = 1, figures_at: str = "", title: str | None = None) -> str:
    """A run as markdown: the comparison table, the study's paragraphs, the figures, layer tables, provenance.

    Args:
      record: the run's ``metrics.json``.
      level: the heading level of its title (1 in ``report.md``, 2 in ``docs/RESULTS.md``).
      figures_at: the folder the figures' links point into, relative to the markdown file.
      title: the heading (default: ``experiment: summary``).
    """
    lines = [f"{'#' * level} {title or record['experiment'] + ': ' + record.get('summary', '')}", ""]
    if record.get("reference"):
        lines += [f"Reproduces: {record['reference']}", ""]
    if record.get("quick"):
        lines += ["**Quick run** (`--quick`): a small configuration for tests; not comparable to the references.", ""]
    lines += [f"Command: `{record['command']}`", ""]
    lines += _table(record.get("references", []))
    other = {k: v for k, v in record.get("metrics", {}).items() if not isinstance(v, dict | list)}
    if other:
        lines += ["Metrics: " + ", ".join(f"`{k}` {_fmt(v)}" for k, v in other.items()), ""]
    for paragraph in record.get("sections", []):
        lines += [paragraph, ""]
    for fig in record.get("figures", []):
        lines += [f"![{fig['file']}]({figures_at}{fig['file']})", "", fig["caption"], ""]
    for entry in record.get("model_summaries", []):
        tags = ", ".join(f"`{t}`" for t in entry["tags"])
        lines += [f"Layers of {'model' if len(entry['tags']) == 1 else 'models'} {tags}:", ""]
        lines += ["```", entry["table"], "```", ""]
    return "\n".join(lines + _provenance(record))


def _table(references: list[dict]) -> list[str]:
    if not references:
        return []
    lines = ["| quantity | cnnlab | reference | reference source | note |", "| --- | --- | --- | --- | --- |"]
    for row in references:
        ours, ref = _fmt(row["ours"]), _fmt(row["reference"])
        lines.append(f"| {row['quantity']} | {ours} | {ref} | {row.get('source', '')} | {row.get('note', '')} |")
    return lines + [""]


def _provenance(record: dict) -> list[str]:
    d = record.get("data", {})
    counts = ", ".join(f"{d[k]:,} {k[2:]}" for k in sorted(d, reverse=True) if k.startswith("n_"))
    versions = ", ".join(f"{k} {v}" for k, v in record.get("versions", {}).items())
    run = f" Run {record['run_id']}" if record.get("run_id") else ""
    commit = f", cnnlab commit {record['git_commit']}" if record.get("git_commit") else ""
    return [
        f"Data: {d.get('name', '?')}, {counts}. Source: {d.get('source', '?')}.",
        "",
        f"Config: `{json.dumps(record.get('config', {}))}`.",
        "",
        f"Device: {record.get('device', '?')}. Versions: {versions}. "
        f"Wall time {record.get('wall_seconds', 0):.1f} s.{run}{commit}" + ("." if run else ""),
        "",
    ]


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
    earlier = _earlier_sections(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Results",
        "",
        "Full runs of each study, our numbers beside the numbers of the seed it reproduces",
        "([SEEDS.md](SEEDS.md) goes through the seeds item by item).",
        "Rebuilt by `cnnlab report` from `results/*/metrics.json`; each section gives the command",
        "that reproduces it. References marked as goals (`>= x`) are targets cnnlab set, not",
        "published numbers. Every run here ran on the machine its section names; wall times",
        "are as measured, compilation included, and grow when other jobs share the machine.",
        "A study with no full run in the results folder keeps its section from the page's earlier",
        "version (its own command, commit and date say when it ran).",
        "",
    ]
    ran = {r["experiment"] for _, r in runs}
    kept = {name: text for name, text in earlier.items() if name not in ran and name in EXPERIMENTS}
    missing = [name for name in EXPERIMENTS if name not in ran and name not in kept]
    if missing:
        lines += [f"Not here yet (no full run in `{results}`): " + ", ".join(f"`{m}`" for m in missing) + ".", ""]
    sections = [(name, text) for name, text in kept.items()]
    for folder, r in runs:
        name = r["experiment"] + (f" ({folder.name})" if folder.name != r["experiment"] else "")
        figures_at = ""
        if figures:
            dest = out.parent / "results" / folder.name
            dest.mkdir(parents=True, exist_ok=True)
            for fig in r.get("figures", []):
                if (folder / fig["file"]).is_file():
                    shutil.copyfile(folder / fig["file"], dest / fig["file"])
            figures_at = dest.relative_to(out.parent).as_posix() + "/"
        else:
            r = {**r, "figures": []}
        sections.append((r["experiment"], render_run(r, level=2, figures_at=figures_at,
                                                     title=f"{name}: {r.get('summary', '')}")))  # fmt: skip
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    for _, text in sorted(sections, key=lambda nt: order[nt[0]]):  # stable: a study's folders keep their order
        lines += [text.rstrip("\n"), ""]
    out.write_text("\n".join(lines))
    return out


def _earlier_sections(out: Path) -> dict[str, str]:
    """The sections of an existing ``out``, by study name (``## NAME: ...`` or ``## NAME (FOLDER): ...``)."""
    if not out.is_file():
        return {}
    found: dict[str, list[str]] = {}
    current = None
    for line in out.read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].split(":", 1)[0].split(" (", 1)[0].strip()
            found.setdefault(current, [])
        if current is not None:
            found[current].append(line)
    return {name: "\n".join(body) for name, body in found.items()}
