"""The GPU run book: one command that measures cnnlab on whatever JAX backend is present.

On a lent GPU or TPU (or the CPU, where nothing else is there), within 8 minutes of wall
time in all, each section inside its own time budget:

1. ops: `cnnlab.ops` forward+backward against `jax.lax` (``conv_general_dilated`` is cuDNN
   on a GPU) at batch 128 and 1024, agreement checked at full precision, both timed at
   the default precision (TF32 where the GPU has it);
2. zoo: training throughput of the zoo models, cnnlab's compiled epoch (`train.fit`)
   against a plain Flax NNX per-step loop, and PyTorch on CUDA where its build has CUDA;
3. many: `train.fit_many` over N = 1, 4, 16, 64 members of `MnistCNN`;
4. time to accuracy: `LeNet5Improved` (`MnistCNN` under ``--tiny``) with the `lenet` recipe to 99 % on MNIST (IDX files
   in ``.data/mnist``; without them the embedded 5,000 digits, said in the table) and to
   92 % on Fashion-MNIST (``.data/fashion-mnist``, else Debian's package), compilation included;
5. bf16: `train.fit` with ``compute_dtype=bfloat16`` against float32.

A section that runs out of its budget stops and lists what it did not run; the tables say
the sizes used. It writes ``device.json`` and ``device.md`` to ``--out``, and names the
packages cnnlab needs that are missing (the GPU machine has JAX and no network: carry them).

    python benchmarks/device.py --out results/benchmarks/device
    python benchmarks/device.py --tiny --out /tmp/device     # everything at a tiny size, under a minute on CPU
"""

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import _common
import _device_sections as sections


@dataclass(frozen=True)
class Sizes:
    """The sizes each section runs at."""

    ops_batches: tuple = (128, 1024)
    ops_reps: int = 10
    zoo_batch: int = 128
    zoo_examples: int = 12800
    zoo_models: tuple | None = None  # None: every model of _device_sections.ZOO_ORDER
    many_members: tuple = (1, 4, 16, 64)
    many_batch: int = 128
    many_examples: int = 6400
    tta_examples: int | None = None  # None: the whole training split
    tta_epochs: int = 15
    tta_model: str = "LeNet5Improved"
    tta_test_examples: int | None = None  # None: the whole test split
    bf16_models: tuple = ("LeNet5Improved", "CifarCNN")
    bf16_examples: int = 12800


TINY = Sizes(
    ops_batches=(8, 16),
    ops_reps=2,
    zoo_batch=8,
    zoo_examples=32,
    zoo_models=("MnistCNN", "ConvAutoencoder"),  # a classifier and an autoencoder, both quick to compile
    many_members=(1, 4),
    many_batch=16,
    many_examples=64,
    tta_examples=256,
    tta_epochs=1,
    tta_test_examples=512,
    tta_model="MnistCNN",
    bf16_models=("MnistCNN",),
    bf16_examples=64,
)
#: Seconds per section (470 in all, leaving half a minute of the 8 for start-up and writing).
BUDGETS = {"ops": 80, "zoo": 110, "many": 70, "time_to_accuracy": 170, "bf16": 40}
#: --tiny: a ceiling well above what tiny sizes take (seconds each), so a busy CI machine still runs them all.
TINY_BUDGETS = {name: 60 for name in BUDGETS}


SECTIONS = {
    "ops": sections.ops,
    "zoo": sections.zoo,
    "many": sections.many,
    "time_to_accuracy": sections.time_to_accuracy,
    "bf16": sections.bf16,
}


def run(tiny: bool) -> dict:
    """Every section in turn; a section that fails records its error and the others still run."""
    found = _common.versions()
    missing = _common.missing_needed(found)
    env = {"versions": found, "missing": missing, "cpu": _common.cpu(), "device": _common.device(),
           "commit": _common.commit(), "date": time.strftime("%Y-%m-%d %H:%M"), "tiny": tiny}  # fmt: skip
    if missing:
        msg = f"MISSING on this machine: {', '.join(missing)}. cnnlab cannot run without them: carry them along"
        print(msg + " (`pip download` their wheels elsewhere, install from that folder).", file=sys.stderr)
    sizes, budgets, done = (TINY if tiny else Sizes()), (TINY_BUDGETS if tiny else BUDGETS), {}
    for name, fn in SECTIONS.items():
        sec = sections.Section(name, budgets[name])
        if missing:
            sec.skipped.append(f"everything: {', '.join(missing)} missing")
        else:
            try:
                fn(sec, sizes)
            except Exception as e:  # noqa: BLE001  (recorded, and the run's exit status says so)
                sec.notes.append(f"error: {type(e).__name__}: {e}")
                traceback.print_exc()
        done[name] = sec.result() | {"error": any(n.startswith("error:") for n in sec.notes)}
        print(f"{name}: {done[name]['seconds']:.1f} s of {sec.budget} s", flush=True)
    return {"env": env, "sizes": asdict(sizes), "sections": done}


def main(argv=None) -> int:
    from _device_report import markdown

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="directory for device.json and device.md")
    parser.add_argument("--tiny", action="store_true", help="every section at a tiny size (a CPU smoke run)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = run(args.tiny)
    result["wall_s"] = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "device.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "device.md").write_text(markdown(result))
    print(markdown(result))
    failed = [n for n, s in result["sections"].items() if s["error"]] + result["env"]["missing"]
    failed += [f"ops {r['op']} {r['shape']}" for r in result["sections"]["ops"]["rows"] if not r["agree"]]
    print(f"wrote {out / 'device.json'} and {out / 'device.md'} in {result['wall_s']:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
