"""A ``cnnlab`` command run twice from an empty compilation cache: wall time and compile share of each run.

Each run is a fresh process (``cnnlab.cli.main`` with JAX's monitoring listeners), so the
second finds what the first wrote. Per run: wall time from the process start, the time spent in
XLA compilation or cache loading (JAX's backend-compile event, which wraps both), tracing and
lowering, the programs compiled or loaded, cache hits and misses, and the cache's size after it.

    python benchmarks/compile_cache.py                          # cnnlab run latent-2d --quick
    python benchmarks/compile_cache.py --pty -- run mnist-cnn --quick
    python benchmarks/compile_cache.py --min-compile-seconds 1.0  # JAX's default threshold

``--pty`` runs the command on a pseudo-terminal, as a user at a terminal sees it (progress bar on).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

EVENTS = {
    "/jax/core/compile/backend_compile_duration": "compile_or_load_s",
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
}


def _child(argv: list[str], report: str, min_seconds: float) -> int:
    """Runs ``cnnlab ARGV`` in this process, then writes what JAX reported to ``report`` (JSON)."""
    start = time.perf_counter()
    import jax

    from cnnlab import cli, compile_cache

    totals = dict.fromkeys([*EVENTS.values(), "programs", "cache_hits", "cache_misses"], 0)

    programs = []

    def duration(event, secs, **kw):
        if event in EVENTS:
            totals[EVENTS[event]] += secs
            totals["programs"] += event.endswith("backend_compile_duration")
            if event.endswith("backend_compile_duration"):
                programs.append((round(secs, 3), kw.get("fun_name", "?")))

    def count(event, **kw):
        for name in ("cache_hits", "cache_misses"):
            totals[name] += event.endswith(name)

    jax.monitoring.register_event_duration_secs_listener(duration)
    jax.monitoring.register_event_listener(count)
    # The cache as the command opens it, but with this threshold; the command then leaves it be.
    compile_cache.enable(compile_cache.directory(), compile_cache.CacheSettings(min_compile_seconds=min_seconds))
    os.environ[compile_cache.ENV] = "0"
    status = cli.main(argv)
    totals["in_process_wall_s"] = time.perf_counter() - start
    totals["slowest"] = sorted(programs, reverse=True)[:15]
    with open(report, "w") as f:
        json.dump({"status": status, **totals}, f)
    return status


def _size(path: str) -> tuple[int, int]:
    files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith("-cache")]
    return len(files), sum(os.path.getsize(f) for f in files)


def _run_once(args, cache: str, out: str, report: str) -> dict:
    env = {**os.environ, "CNNLAB_COMPILE_CACHE": cache}
    command = [*args.command, "--out", out, "--force"] if args.command[0] == "run" else args.command
    child = [sys.executable, __file__, "--child", report, "--min-compile-seconds", str(args.min_compile_seconds)]
    child += ["--", *command]
    if args.pty:  # util-linux script(1): the child sees a terminal, its output is kept in a typescript
        child = ["script", "-qefc", " ".join(child), os.devnull]
    start = time.perf_counter()
    proc = subprocess.run(child, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"cnnlab {' '.join(command)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    with open(report) as f:
        record = json.load(f)
    if args.log:
        with open(os.path.join(args.log, f"run{len(os.listdir(args.log)) + 1}.stderr"), "w") as f:
            f.write(proc.stderr)
    entries, size = _size(cache)
    return {"wall_s": wall, **record, "cache_entries": entries, "cache_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--pty", action="store_true", help="run on a pseudo-terminal (progress bar shown)")
    parser.add_argument("--min-compile-seconds", type=float, default=0.1, help="the cache's threshold")
    parser.add_argument("--slowest", action="store_true", help="also list each run's slowest programs")
    parser.add_argument("--log", metavar="DIR", help="keep each run's stderr in DIR (with JAX_EXPLAIN_CACHE_MISSES=1)")
    parser.add_argument("--runs", type=int, default=2, help="runs from the same cache (default: %(default)s)")
    parser.add_argument("command", nargs="*", default=["run", "latent-2d", "--quick"], help="cnnlab's arguments")
    args = parser.parse_args()
    if args.child:
        sys.exit(_child(args.command, args.child, args.min_compile_seconds))
    work = tempfile.mkdtemp(prefix="cnnlab-cache-bench-")
    try:
        cache, out, report = (os.path.join(work, n) for n in ("jax", "out", "report.json"))
        rows = [_run_once(args, cache, out, report) for _ in range(args.runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"cnnlab {' '.join(args.command)}; threshold {args.min_compile_seconds} s; load {os.getloadavg()[0]:.2f}")
    print("run  wall s  compile+load s  trace s  lower s  programs  hits  misses  entries  MB")
    for i, r in enumerate(rows, 1):
        print(
            f"{i:3d}  {r['wall_s']:6.1f}  {r['compile_or_load_s']:14.1f}  {r['trace_s']:7.1f}  {r['lower_s']:7.1f}  "
            f"{r['programs']:8d}  {r['cache_hits']:4d}  {r['cache_misses']:6d}  {r['cache_entries']:7d}  "
            f"{r['cache_bytes'] / 1e6:4.1f}"
        )
    if args.slowest:
        for i, r in enumerate(rows, 1):
            print(f"run {i}, slowest programs to compile or load (s, name): {r['slowest']}")


if __name__ == "__main__":
    main()
