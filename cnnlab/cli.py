"""The `cnnlab` command: ``demo``, ``list``, ``config NAME``, ``run NAME``, ``report``, ``summary MODEL``.

A bad option, an unwritable directory, unavailable data or an unusable checkpoint ends in
one line on stderr (``cnnlab run NAME: error: ...``) and exit status 2, before anything
trains; a run whose training diverges ends in one line and exit status 1.

The commands that compile (``run``, ``latent``, ``demo``) keep their compiled programs in JAX's
persistent compilation cache (`cnnlab.compile_cache`: ``~/.cache/cnnlab/jax``), so a second
identical run loads them; ``CNNLAB_COMPILE_CACHE=0`` (or ``run NAME --no-compile-cache``) turns it off.
"""

import argparse
import sys


def _list() -> int:
    import cnnlab.studies as experiments

    width = max(map(len, experiments.EXPERIMENTS))
    for name in experiments.EXPERIMENTS:
        print(f"{name:{width}s}  {experiments.get(name).summary}")
    print("\nrun one with `cnnlab run NAME [--quick]`; `cnnlab run NAME --help` lists its options")
    return 0


def _run(argv: list[str]) -> int:
    import cnnlab.studies as experiments
    from cnnlab.studies import _harness, _runner

    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: cnnlab run NAME [--quick] [--epochs N] [--batch-size B] [--data-dir D] [--dataset D] [--seed S]\n"
            "                       [--set KEY=VALUE ...] [--config FILE] [--out DIR] [--force]\n"
            "                       [--checkpoint-dir DIR] [--resume | --overwrite] [--tensorboard DIR]\n"
            "                       [--device cpu|gpu|tpu] [--quiet] [--no-compile-cache]\n"
            f"experiments: {', '.join(experiments.EXPERIMENTS)}"
        )
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    try:
        study = experiments.get(name)
    except KeyError as e:
        print(_harness.error_line("cnnlab run", e.args[0]), file=sys.stderr)
        return 2
    return _runner.run_study(study, rest)


def _config(name: str, quick: bool, as_json: bool) -> int:
    """`cnnlab config NAME [--quick] [--json]`: a study's settings, their types, values and docs."""
    import dataclasses
    import json

    import cnnlab.studies as experiments
    from cnnlab.studies import _config as config_mod

    try:
        study = experiments.get(name)
    except KeyError as e:
        print(error_line("cnnlab config", e.args[0]), file=sys.stderr)
        return 2
    cfg = study.config(**study.quick) if quick else study.config()
    if as_json:
        print(json.dumps(dataclasses.asdict(cfg), indent=1))
        return 0
    rows = config_mod.describe(cfg)
    print(f"{study.name}{' --quick' if quick else ''}: {study.summary}\n")
    width = {k: max(len(k), *(len(_shown(r[k])) for r in rows)) for k in ("name", "type", "value")}
    print(f"{'setting':{width['name']}s}  {'type':{width['type']}s}  {'value':{width['value']}s}  meaning")
    for r in rows:
        mark = " (--quick)" if quick and r["value"] != r["default"] else ""
        line = f"{r['name']:{width['name']}s}  {r['type']:{width['type']}s}  {_shown(r['value']):{width['value']}s}"
        print(f"{line}  {r['doc']}{mark}")
    print(
        f"\nchange one with `cnnlab run {name} --set KEY=VALUE`, or many with `--config FILE` (JSON or TOML; "
        f"`cnnlab config {name} --json` writes one)"
    )
    return 0


def _shown(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cnnlab report", description="rebuild docs/RESULTS.md from results/")
    parser.add_argument("--results", default="results", help="folder of runs (default: %(default)s)")
    parser.add_argument("--out", default="docs/RESULTS.md", help="markdown file to write (default: %(default)s)")
    parser.add_argument("--no-figures", action="store_true", help="do not copy the figures next to it")
    args = parser.parse_args(argv)
    from cnnlab.studies import _report as report
    from cnnlab.studies._harness import error_line

    try:
        path = report.build(args.results, args.out, figures=not args.no_figures)
    except FileNotFoundError as e:
        print(error_line(parser.prog, str(e)), file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _demo(out: str) -> int:
    """`cnnlab demo --out OUT`: an unwritable OUT is a one-line error, exit status 2."""
    from pathlib import Path

    from cnnlab import demo as demo_mod
    from cnnlab.studies._harness import UsageError, error_line
    from cnnlab.studies._options import check_dir

    try:
        check_dir("--out", Path(out))
        metrics = demo_mod.run(out)
    except UsageError as e:
        print(error_line("cnnlab demo", str(e)), file=sys.stderr)
        return 2
    except OSError as e:  # the disk filled, or the directory went away, while writing
        print(error_line("cnnlab demo", f"--out {out}: cannot write there ({e.strerror or e})"), file=sys.stderr)
        return 2
    for name, d in metrics["max_abs_diff_vs_lax"].items():
        print(f"{name:28s} max |ours - lax| = {d:.2e}")
    print(f"wrote {out}/figure.png, metrics.json, report.md")
    return 0 if metrics["all_within_1e-5"] else 1


def _summary(name: str, input_shape: str | None) -> int:
    """`cnnlab summary MODEL [--input-shape H,W,C]`: the Keras-style per-layer table of a model."""
    from cnnlab import summary as summary_mod

    prog = "cnnlab summary"
    try:
        cls = summary_mod.resolve_model(name)
    except KeyError as e:
        print(error_line(prog, e.args[0]), file=sys.stderr)
        return 2
    if input_shape is None:
        shape = summary_mod.DEFAULT_INPUT_SHAPES.get(name, (28, 28, 1))
    else:
        try:
            shape = tuple(int(d) for d in input_shape.replace("x", ",").split(","))
            if not shape or min(shape) < 1:
                raise ValueError
        except ValueError:
            message = f"--input-shape must be positive whole numbers like 28,28,1 (H,W,C); got {input_shape!r}"
            print(error_line(prog, message), file=sys.stderr)
            return 2
    try:
        print(summary_mod.summary(cls, shape))
    except (ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        given = ",".join(map(str, shape))
        print(
            error_line(prog, f"{name} does not take inputs of shape {given} (--input-shape): {first}"), file=sys.stderr
        )
        return 2
    return 0


def error_line(prog: str, message: str) -> str:
    from cnnlab.studies._harness import error_line as line

    return line(prog, message)


def _compile_cache(argv: list[str]) -> None:
    """JAX's persistent compilation cache for a command that compiles (``cnnlab run`` turns it on itself,
    after its options): ``CNNLAB_COMPILE_CACHE`` moves it or turns it off; not for ``--help``."""
    if not {"-h", "--help"} & set(argv):
        from cnnlab import compile_cache

        compile_cache.enable_from_environment()


def _version() -> str:
    from cnnlab import __version__

    return f"cnnlab {__version__}"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        print(_version())
        return 0
    # `run` and `report` parse their own options (a study's --help lists them).
    if argv and argv[0] == "run":
        return _run(argv[1:])
    if argv and argv[0] == "report":
        return _report(argv[1:])
    if argv and argv[0] == "latent":
        from cnnlab.latent import commands

        _compile_cache(argv)
        return commands.main(argv[1:])
    parser = argparse.ArgumentParser(prog="cnnlab", description="cnnlab: classic CNNs in JAX.")
    parser.add_argument("-V", "--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run every operator on a built-in image, check it against jax.lax, draw it")
    demo.add_argument("--out", default="results/ops_demo", help="output directory (default: %(default)s)")
    sub.add_parser("list", help="the experiments, one line each")
    sub.add_parser("run", help="run an experiment: cnnlab run NAME [--quick] ... (cnnlab run NAME --help)")
    sub.add_parser("report", help="rebuild docs/RESULTS.md from the results folders")
    sub.add_parser("latent", help="latent figures from a saved run: cnnlab latent RUN interpolate|grid|sample|encode")
    summ = sub.add_parser(
        "summary",
        help="a model's per-layer table (layer, output shape, parameters), as Keras's model.summary() prints it",
        description="A model's per-layer table, as Keras's model.summary() prints it, with its parameter totals.",
    )
    summ.add_argument("model", metavar="MODEL", help="a model of cnnlab.models, e.g. ConvAutoencoder")
    conf = sub.add_parser(
        "config",
        help="a study's settings: type, value and meaning of each (what --set and --config change)",
        description="A study's settings: the type, value and meaning of each. --set KEY=VALUE and --config FILE "
        "change them for a run.",
    )
    conf.add_argument("name", metavar="NAME", help="a study, e.g. latent-2d (cnnlab list shows them)")
    conf.add_argument("--quick", action="store_true", help="the values of a --quick run")
    conf.add_argument("--json", action="store_true", help="print the values as JSON, a file --config reads")
    summ.add_argument(
        "--input-shape", metavar="H,W,C", help="one input's shape without the batch (default: the model's usual input)"
    )
    args = parser.parse_args(argv)

    if args.command == "list":
        return _list()
    if args.command == "demo":
        _compile_cache(argv)
        return _demo(args.out)
    if args.command == "summary":
        return _summary(args.model, args.input_shape)
    if args.command == "config":
        return _config(args.name, args.quick, args.json)
    return 2


if __name__ == "__main__":
    sys.exit(main())
