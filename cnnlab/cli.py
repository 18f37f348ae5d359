"""The `cnnlab` command."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="cnnlab", description="cnnlab: classic CNNs in JAX.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run every operator on a built-in image, check it against jax.lax, draw it")
    demo.add_argument("--out", default="results/ops_demo", help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from cnnlab import demo as demo_mod

        metrics = demo_mod.run(args.out)
        for name, d in metrics["max_abs_diff_vs_lax"].items():
            print(f"{name:28s} max |ours - lax| = {d:.2e}")
        print(f"wrote {args.out}/figure.png, metrics.json, report.md")
        return 0 if metrics["all_within_1e-5"] else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
