"""Wall time of every study: its full run (as recorded) and its ``--quick`` run, cold and warm.

Each quick run is a fresh ``cnnlab run NAME --quick`` process, timed from start to exit
(imports, data, compilation, training, figures). "Cold" runs with an empty JAX compilation
cache of its own; "warm" runs the same command again with that cache filled, which is what a
user's second run gets (`cnnlab.compile_cache`). The full runs are not rerun here: their wall
times come from the runs' own records, ``results/NAME/metrics.json`` where present, else the
"Wall time" of the study's section in ``docs/RESULTS.md`` (the run that page shows).

Targets (issue "Fast across the whole model zoo"): a full run within 5 minutes on 2 cores unless
the seed's own schedule needs more; a quick run within 20 s.

    python benchmarks/study_times.py --out results/benchmarks/study_times       # every study
    python benchmarks/study_times.py --studies lenet mnist-cnn --no-warm        # some, cold only
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

FULL_TARGET_S, QUICK_TARGET_S = 300, 20
ROOT = Path(__file__).resolve().parent.parent


def full_times(results: Path, page: Path) -> dict[str, dict]:
    """``{study: {"seconds": s, "from": where}}`` for every study with a recorded full run."""
    found = {}
    if page.is_file():
        section = None
        for line in page.read_text().splitlines():
            if line.startswith("## "):
                section = line[3:].split(":", 1)[0].split(" (", 1)[0].strip()
            m = re.search(r"Wall time ([0-9.]+) s", line)
            if section and m and section not in found:
                found[section] = {"seconds": float(m.group(1)), "from": str(page)}
    for path in sorted(results.glob("*/metrics.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        name = record.get("experiment") if isinstance(record, dict) else None
        if name and not record.get("quick", True) and path.parent.name == name:
            found[name] = {"seconds": float(record["wall_seconds"]), "from": str(path)}
    return found


def time_quick(name: str, cache: Path, out: Path) -> float:
    """Seconds of one ``cnnlab run NAME --quick`` process with the compilation cache in ``cache``."""
    env = dict(os.environ, CNNLAB_COMPILE_CACHE=str(cache))
    cmd = [sys.executable, "-m", "cnnlab.cli", "run", name, "--quick", "--quiet", "--force", "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(f"{name} --quick failed: {lines[-1] if lines else proc.returncode}")
    return seconds


def markdown(result: dict) -> str:
    c = result["cpu"]
    head = (f"Measured by `python benchmarks/study_times.py` at commit {result['commit']} on {result['date']}: "
            f"{c['model']}, {c['cores']} cores. Quick: one fresh process each, cold (empty compilation cache) "
            f"and warm (the same command again). Full: the recorded run's own wall time. Targets: full "
            f"<= {FULL_TARGET_S} s unless the seed's schedule needs more, quick <= {QUICK_TARGET_S} s.")  # fmt: skip
    header = ["study", "full run s", "full within target", "quick cold s", "quick warm s", "quick within target"]
    rows = []
    for r in result["rows"]:
        full, cold, warm = r.get("full_s"), r.get("quick_cold_s"), r.get("quick_warm_s")
        best = min(v for v in (cold, warm) if v is not None) if (cold or warm) else None
        rows.append([r["study"], full, None if full is None else ("yes" if full <= FULL_TARGET_S else "no"),
                     cold, warm, None if best is None else ("yes" if best <= QUICK_TARGET_S else "no")])  # fmt: skip
    return head + "\n\n" + _common.table(header, rows) + "\n"


def main(argv=None) -> int:
    from cnnlab.studies import EXPERIMENTS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--no-warm", action="store_true", help="time only the cold quick run")
    parser.add_argument("--results", default="results", help="where full runs' metrics.json are")
    parser.add_argument("--page", default=str(ROOT / "docs" / "RESULTS.md"), help="the results page (wall times)")
    parser.add_argument("--out", default="results/benchmarks/study_times", help="directory for the JSON and table")
    args = parser.parse_args(argv)
    full = full_times(Path(args.results), Path(args.page))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.studies:
            known = full.get(name, {})
            row = {"study": name, "full_s": known.get("seconds"), "full_from": known.get("from")}
            cache = Path(tmp) / "cache" / name
            row["quick_cold_s"] = time_quick(name, cache, Path(tmp) / name)
            if not args.no_warm:
                row["quick_warm_s"] = time_quick(name, cache, Path(tmp) / name)
            print(f"{name}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items() if isinstance(v, float)), flush=True)
            rows.append(row)
    result = {"rows": rows, "cpu": _common.cpu(), "commit": _common.commit(), "date": time.strftime("%Y-%m-%d")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study_times.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "study_times.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
