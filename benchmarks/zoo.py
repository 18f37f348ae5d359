"""Training throughput of every zoo model: cnnlab against PyTorch (eager, torch.compile) and Keras 3.

For each model in `cnnlab.models.ZOO` (and the `CifarCNN` batch-norm variant), at each
batch size: cnnlab's `train.fit` (a compiled ``lax.scan`` per epoch) against the same
architecture in PyTorch eager, ``torch.compile`` (where it works on this CPU) and Keras 3
on the JAX backend. The peers are built from the cnnlab model's own layers at run time
(`_peers`), trained with adam on synthetic data of the model's shapes (`_loops`). Each
(model, framework, batch) runs in its own process, so its peak resident memory is its own;
images/s is the best of ``--repeats`` epochs after a first one that compiles.

Reported per model: images/s and cnnlab's ratio to each peer (above 1: cnnlab is faster);
GFLOP/s of cnnlab's training step, with FLOPs counted from the architecture (`_arch`);
that rate as a fraction of the machine's float32 GEMM rate, measured in the same run (a
roofline column); peak RSS. The CPU model and vector width go beside the table. Targets
(issue #20, 2 CPU cores): at least 1.5x PyTorch eager and 3x Keras 3 at both batch sizes;
conv-dominated models at half the GEMM rate.

    python benchmarks/zoo.py --out results/benchmarks/zoo          # every model, batches 32 and 128
    python benchmarks/zoo.py --models MnistCNN LeNet5 --batches 32 --examples 1600
    python benchmarks/zoo.py --tiny --out /tmp/zoo                  # smoke run: two models, a few steps
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import _common

FRAMEWORKS = ("cnnlab", "PyTorch eager", "torch.compile", "Keras 3 (jax)")
TINY_MODELS = ("MnistCNN", "ConvAutoencoder")


@dataclasses.dataclass(frozen=True)
class Config:
    """What one zoo run measures."""

    models: tuple  # labels, `_loops.labels()` by default
    batches: tuple = (32, 128)
    frameworks: tuple = FRAMEWORKS
    examples: int = 3200  # training examples per epoch (synthetic)
    repeats: int = 2  # timed epochs after the first; the best is reported


def _child(label: str, framework: str, batch: int, examples: int, repeats: int) -> dict:
    """Train one model in one framework in this process; its measurements."""
    import _loops

    t = _loops.task(label, examples)
    run = {
        "cnnlab": lambda: _loops.train_cnnlab(t, batch, 1 + repeats),
        "PyTorch eager": lambda: _loops.train_torch(t, batch, 1 + repeats),
        "torch.compile": lambda: _loops.train_torch(t, batch, 1 + repeats, compile=True),
        "Keras 3 (jax)": lambda: _loops.train_keras(t, batch, 1 + repeats),
    }[framework]
    times, loss = run()
    images = (examples // batch) * batch
    return {"images_per_s": images / min(times[1:]), "first_epoch_s": times[0], "last_loss": loss,
            "peak_rss_mb": _common.peak_rss_mb()}  # fmt: skip


def _spawn(*args) -> dict:
    """One child process; ``{"error": last line of its stderr}`` when it fails."""
    proc = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": lines[-1] if lines else f"exit status {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _model_info(label: str) -> dict:
    import _arch
    import _loops

    from cnnlab import nn

    t = _loops.task(label, 1)
    return {"params": nn.count_params(t.model(), trainable_only=True), **_arch.flops(t.arch)}


def measure(cfg: Config) -> dict:
    """Every (model, batch, framework) of ``cfg`` in its own process, and the machine's GEMM rate."""
    gemm = _spawn("--gemm")
    if "error" in gemm:
        raise SystemExit(f"zoo: measuring the GEMM rate failed: {gemm['error']}")
    rows = []
    for label in cfg.models:
        info = _model_info(label)
        for batch in cfg.batches:
            res = {fw: _spawn("--child", label, fw, batch, cfg.examples, cfg.repeats) for fw in cfg.frameworks}
            rows.append({"model": label, "batch": batch, **info, "results": res})
            print(f"{label} batch {batch}: " + ", ".join(
                f"{fw} {r['images_per_s']:.0f}/s" if "error" not in r else f"{fw} failed" for fw, r in res.items()),
                flush=True)  # fmt: skip
    return {"config": dataclasses.asdict(cfg), "gemm_gflops": gemm["gemm_gflops"], "cpu": _common.cpu(),
            "versions": _common.versions(), "commit": _common.commit(), "date": time.strftime("%Y-%m-%d"),
            "rows": rows}  # fmt: skip


def _ratio(ours, theirs):
    if "error" in ours or "error" in theirs:
        return None
    return ours["images_per_s"] / theirs["images_per_s"]


def markdown(result: dict) -> str:
    """The run as markdown: the machine, then one table per batch size."""
    c = result["cpu"]
    head = (f"Measured by `python benchmarks/zoo.py` at commit {result['commit']} on {result['date']}: {c['model']}, "
            f"{c['cores']} cores, vector width {c['vector']}; float32 GEMM (1024^3 `jnp.dot`) "
            f"{result['gemm_gflops']:.0f} GFLOP/s; {result['config']['examples']} synthetic examples an epoch, "
            f"best of {result['config']['repeats']} epoch(s) after the first. Ratios are cnnlab over the peer "
            "(above 1: cnnlab faster); GFLOP/s: the training step's GEMM work (`benchmarks/_arch.py`).")  # fmt: skip
    fws = result["config"]["frameworks"]
    peers = [fw for fw in fws if fw != "cnnlab"]
    out = [head]
    for batch in result["config"]["batches"]:
        header = ["model", "params", "train MFLOP/image", *(f"{fw} images/s" for fw in fws),
                  *(f"x {fw}" for fw in peers), "cnnlab GFLOP/s", "of GEMM rate", "peak RSS MB", "errors"]  # fmt: skip
        rows = []
        for r in (r for r in result["rows"] if r["batch"] == batch):
            res, ours = r["results"], r["results"].get("cnnlab", {"error": "not run"})
            speed = [None if "error" in res[fw] else res[fw]["images_per_s"] for fw in fws]
            gflops = None if "error" in ours else ours["images_per_s"] * r["train_step"] / 1e9
            rss = " / ".join("-" if "error" in res[fw] else f"{res[fw]['peak_rss_mb']:.0f}" for fw in fws)
            errors = "; ".join(f"{fw}: {res[fw]['error']}" for fw in fws if "error" in res[fw])
            rows.append([r["model"], r["params"], r["train_step"] / 1e6, *speed,
                         *(_ratio(ours, res[fw]) for fw in peers), gflops,
                         None if gflops is None else f"{gflops / result['gemm_gflops']:.0%}", rss, errors])  # fmt: skip
        out += [f"\nBatch {batch} (peak RSS in the order {' / '.join(fws)}):\n", _common.table(header, rows)]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    import _loops

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", help=f"zoo labels (default: all): {', '.join(_loops.labels())}")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--examples", type=int, default=3200, help="synthetic training examples per epoch")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs after the first; the best is reported")
    parser.add_argument("--tiny", action="store_true", help=f"smoke run: {', '.join(TINY_MODELS)}, batch 8, 4 steps")
    parser.add_argument("--out", default="results/benchmarks/zoo", help="directory for zoo.json and zoo.md")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)  # label framework batch examples repeats
    parser.add_argument("--gemm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.gemm:
        print(json.dumps({"gemm_gflops": _common.gemm_gflops()}))
        return 0
    if args.child:
        label, fw, *nums = args.child
        print(json.dumps(_child(label, fw, *map(int, nums))))
        return 0
    unknown = sorted(set(args.models or ()) - set(_loops.labels()))
    if unknown:
        parser.error(f"--models: unknown {unknown}; known: {', '.join(_loops.labels())}")
    for name in ("examples", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1; got {getattr(args, name)}")
    if args.tiny:
        cfg = Config(models=tuple(args.models or TINY_MODELS), batches=(8,), examples=32, repeats=1,
                     frameworks=tuple(fw for fw in args.frameworks if fw != "torch.compile"))  # fmt: skip
    else:
        if any(b < 1 or b > args.examples for b in args.batches):
            parser.error(f"--batches must be between 1 and --examples ({args.examples}); got {args.batches}")
        cfg = Config(tuple(args.models or _loops.labels()), tuple(args.batches), tuple(args.frameworks),
                     args.examples, args.repeats)  # fmt: skip
    result = measure(cfg)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "zoo.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "zoo.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'zoo.json'} and {out / 'zoo.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
