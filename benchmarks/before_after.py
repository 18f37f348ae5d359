"""Paired before/after throughput of a change to cnnlab: the same benchmark children, run
alternately against two checkouts of the library, so that drift in the machine's speed falls
on both sides of every pair.

The children are this checkout's `benchmarks/train.py` (``cnnlab scan``, ``cnnlab per-step``:
`train.fit` of `MnistCNN` with adam on Fashion-MNIST, the best of the timed epochs) and
`benchmarks/many.py` (``fit_many`` of N members). Each child runs in its own process with
``PYTHONPATH`` pointing at one checkout, so only the library differs. Each round runs every
case once per side, the side that goes first alternating. Reported per case: the median
images/s of each side, and the median and range of the per-pair ratios (after / before).

    git worktree add /tmp/before <old commit>
    python benchmarks/before_after.py --before /tmp/before --rounds 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
AFTER = os.path.dirname(HERE)


def _cases(examples: int, batches, members) -> list[tuple[str, list[str]]]:
    cases = []
    for b in batches:
        for peer in ("cnnlab scan", "cnnlab per-step"):
            args = ["train.py", "--child", peer, "--batches", str(b), "--examples", str(examples), "--repeats", "3"]
            cases.append((f"fit, {peer.split()[1]}, batch {b}", args))
        for m in members:
            args = ["many.py", "--child", "many", str(m), str(b), str(examples), "2"]
            cases.append((f"fit_many, N={m}, batch {b}", args))
    return cases


def _run(tree: str, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": tree}
    cmd = [sys.executable, os.path.join(HERE, args[0]), *args[1:]]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=tree).stdout
    return float(json.loads(out.strip().splitlines()[-1])["images_per_s"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="a checkout of the library before the change")
    parser.add_argument("--after", default=AFTER, help="a checkout after it (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--examples", type=int, default=12800, help="training images per epoch")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--members", type=int, nargs="+", default=[4], help="fit_many sweep sizes")
    args = parser.parse_args()
    cases = _cases(args.examples, args.batches, args.members)
    results = {name: {"before": [], "after": []} for name, _ in cases}
    for r in range(args.rounds):
        for name, child in cases:
            sides = ("before", "after") if r % 2 == 0 else ("after", "before")
            for side in sides:
                ips = _run(getattr(args, side), child)
                results[name][side].append(ips)
                print(f"round {r + 1}: {name}, {side}: {ips:,.0f} images/s", file=sys.stderr, flush=True)
    print("| case | before images/s (median) | after images/s (median) | after / before, median [range] |")
    print("| --- | ---: | ---: | ---: |")
    for name, _ in cases:
        b, a = results[name]["before"], results[name]["after"]
        ratios = [y / x for x, y in zip(b, a)]
        print(f"| {name} | {statistics.median(b):,.0f} | {statistics.median(a):,.0f} | "
              f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}] |")


if __name__ == "__main__":
    main()
