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
import contextlib
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import _common

ROOT = Path(__file__).resolve().parent.parent
ZOO_ORDER = ("MnistCNN", "LeNet5Improved", "CifarCNN", "CifarCNN+BN", "ConvAutoencoder", "NoiseToDigit", "Segmenter")


@dataclass(frozen=True)
class Sizes:
    """The sizes each section runs at."""

    ops_batches: tuple = (128, 1024)
    ops_reps: int = 10
    zoo_batch: int = 128
    zoo_examples: int = 12800
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


class Section:
    """A section's rows, what it skipped and why, and its clock against its budget."""

    def __init__(self, name: str, budget: float):
        self.name, self.budget, self.start = name, budget, time.perf_counter()
        self.rows, self.skipped, self.notes = [], [], []

    def has_time(self, what: str) -> bool:
        if time.perf_counter() - self.start < self.budget:
            return True
        self.skipped.append(f"{what} (the section's {self.budget:.0f} s were spent)")
        return False

    def result(self) -> dict:
        return {"rows": self.rows, "skipped": self.skipped, "notes": self.notes, "budget_s": self.budget,
                "seconds": time.perf_counter() - self.start}  # fmt: skip


def _ops(sec: Section, sz: Sizes) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import ops as bench_ops  # benchmarks/ops.py: the cases and the interleaved timing

    from cnnlab import ops

    def dense_case(b):
        return bench_ops.Case("dense", f"{b}x1024->128", ops.dense, lambda x, w: jax.lax.dot(x, w),
                              ((b, 1024), (1024, 128)), None)  # fmt: skip

    on_cpu = jax.default_backend() == "cpu"
    wanted = ("conv2d 3x3 SAME", "conv2d_transpose 3x3/2 SAME", "max_pool2d 2x2", "avg_pool2d 2x2", "batch_norm")
    for i in range(len(bench_ops.cases(1)) + 1):
        for b in sz.ops_batches:
            cases = [c for c in bench_ops.cases(b) if c.name.startswith(wanted)] + [dense_case(b)]
            if i >= len(cases) or not sec.has_time(f"{cases[i].name} at batch {b}"):
                continue
            c = cases[i]
            rng = np.random.default_rng(0)
            xs = tuple(jnp.asarray(rng.standard_normal(s), jnp.float32) for s in c.inputs)
            cot = jnp.asarray(rng.standard_normal(jax.eval_shape(c.ours, *xs).shape), jnp.float32)
            fb_ours, fb_lax = bench_ops._fwd_bwd(c.ours, len(xs)), bench_ops._fwd_bwd(c.theirs, len(xs))
            fw_ours, fw_lax = jax.jit(c.ours), jax.jit(c.theirs)
            # Agreement at full precision (the CPU's default; an accelerator's may be TF32), timing at the default.
            with contextlib.nullcontext() if on_cpu else jax.default_matmul_precision("highest"):
                (v1, g1), (v2, g2) = fb_ours(*xs, cot), fb_lax(*xs, cot)
                fwd_err = float(jnp.max(jnp.abs(fw_ours(*xs) - fw_lax(*xs))))
            grad_err = max(float(jnp.max(jnp.abs(a - b)) / (1 + jnp.max(jnp.abs(b)))) for a, b in zip(g1, g2))
            f_ours, f_lax = bench_ops._time_pair(fw_ours, fw_lax, xs, sz.ops_reps)
            b_ours, b_lax = bench_ops._time_pair(fb_ours, fb_lax, (*xs, cot), sz.ops_reps)
            sec.rows.append({"op": c.name, "shape": c.shape, "batch": b, "fwd_ours_ms": f_ours * 1e3,
                             "fwd_lax_ms": f_lax * 1e3, "fwd_bwd_ours_ms": b_ours * 1e3, "fwd_bwd_lax_ms": b_lax * 1e3,
                             "fwd_bwd_ratio": b_ours / b_lax, "max_fwd_err": fwd_err, "max_grad_rel_err": grad_err,
                             "agree": fwd_err < 2e-3 and grad_err < 2e-3 and bool(jnp.isfinite(v1 - v2))})  # fmt: skip
    sec.notes.append(
        f"batches {sz.ops_batches}; best of {sz.ops_reps} interleaved calls; agreement: forward max abs error and "
        "gradient max error over (1 + max |gradient|) below 2e-3 at full float32 precision"
    )


def _torch_cuda() -> str | None:
    """None when PyTorch with CUDA is usable, else why not."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    return None if torch.cuda.is_available() else f"PyTorch {torch.__version__} has no CUDA device here"


def _zoo(sec: Section, sz: Sizes, tiny: bool) -> None:
    import _loops

    no_torch = _torch_cuda()
    if no_torch:
        sec.notes.append(f"PyTorch CUDA not run: {no_torch}")
    runs = {
        "cnnlab scan": lambda t: _loops.train_cnnlab(t, sz.zoo_batch, 3),
        "Flax NNX per-step": lambda t: _loops.train_flax(t, sz.zoo_batch, 3),
        "PyTorch CUDA": None if no_torch else lambda t: _loops.train_torch(t, sz.zoo_batch, 3, device="cuda"),
    }
    for label in ZOO_ORDER[:2] if tiny else ZOO_ORDER:
        if not sec.has_time(label):
            continue
        t = _loops.task(label, sz.zoo_examples)
        row = {"model": label, "batch": sz.zoo_batch, "examples": sz.zoo_examples}
        for name, run in runs.items():
            if run is not None and sec.has_time(f"{label}: {name}"):
                times, loss = run(t)
                row[name] = {"images_per_s": (sz.zoo_examples // sz.zoo_batch) * sz.zoo_batch / min(times[1:]),
                             "first_epoch_s": times[0], "last_loss": loss}  # fmt: skip
        sec.rows.append(row)
    sec.notes.append("images/s: the best of 2 epochs after the first (which compiles); synthetic data of each "
                     "model's shapes; adam")  # fmt: skip


def _many(sec: Section, sz: Sizes) -> None:
    import numpy as np

    from cnnlab import models, train

    task_x = np.random.default_rng(0).random((sz.many_examples, 28, 28, 1), np.float32)
    task_y = np.random.default_rng(1).integers(0, 10, sz.many_examples).astype(np.int32)
    for n in sz.many_members:
        if not sec.has_time(f"N = {n}"):
            continue
        _, hists = train.fit_many(lambda rngs: models.MnistCNN(rngs=rngs), list(range(n)), (task_x, task_y),
                                  loss="softmax_cross_entropy", optimizer="adam", epochs=2, batch_size=sz.many_batch,
                                  verbose=False)  # fmt: skip
        first, second = hists[0]["time_s"]
        images = (sz.many_examples // sz.many_batch) * sz.many_batch
        sec.rows.append({"members": n, "images_per_s": n * images / second, "per_member": images / second,
                         "compile_s": max(first - second, 0.0), "last_loss": float(hists[-1]["loss"][-1])})  # fmt: skip
    sec.notes.append(f"MnistCNN, adam, batch {sz.many_batch}, {sz.many_examples} synthetic images an epoch; "
                     "the second epoch timed")  # fmt: skip


def _data(name: str, folder: str):
    """Both splits of ``name``: from ``.data/<folder>`` if it is there, else the stated fallback."""
    from cnnlab import data

    local = ROOT / ".data" / folder
    if local.is_dir():
        return data.load(name, "train", data_dir=local), data.load(name, "test", data_dir=local), str(local)
    if name == "mnist":
        train_ds, test_ds = data.load(name, "train", source="offline"), data.load(name, "test", source="offline")
        return train_ds, test_ds, "the embedded 5,000 MNIST digits (no .data/mnist)"
    train_ds, test_ds = data.load(name, "train", source="debian"), data.load(name, "test", source="debian")
    return train_ds, test_ds, f"Debian's package (no .data/{folder})"


def _to_target(sec: Section, name: str, train_ds, test_ds, target: float, sz: Sizes) -> list:
    """Train ``sz.tta_model`` until ``target`` test accuracy, the epoch budget or the section's time runs out.

    Returns ``[(seconds since fit was called, test accuracy)]`` after each epoch.
    """
    import optax
    from flax import nnx

    from cnnlab import data, models, train

    x, y = train_ds.images, train_ds.labels
    if sz.tta_examples is not None:
        x, y = x[: sz.tta_examples], y[: sz.tta_examples]
    val = (test_ds.images[: sz.tta_test_examples], test_ds.labels[: sz.tta_test_examples])
    schedule = optax.cosine_decay_schedule(1e-3, decay_steps=max(sz.tta_epochs * (len(y) // 128), 1), alpha=0.01)
    curve, t0 = [], time.perf_counter()

    def on_epoch(record):
        curve.append((time.perf_counter() - t0, record["val_accuracy"]))
        more = record["epoch"] < sz.tta_epochs
        return record["val_accuracy"] >= target or (more and not sec.has_time(f"{name}: epochs after {len(curve)}"))

    train.fit(
        models.ZOO[sz.tta_model](rngs=nnx.Rngs(0)),
        (x, y),
        loss="softmax_cross_entropy",
        optimizer=train.make_optimizer("adam", learning_rate=schedule),
        epochs=sz.tta_epochs,
        batch_size=min(128, len(y)),
        val_data=val,
        augment=lambda k, b: data.random_translate(k, b, max_shift=2),
        on_epoch=on_epoch,
        verbose=False,
    )
    return curve, len(y), len(val[1])


def _time_to_accuracy(sec: Section, sz: Sizes) -> None:
    for name, folder, target in (("mnist", "mnist", 0.99), ("fashion_mnist", "fashion-mnist", 0.92)):
        if not sec.has_time(name):
            continue
        try:
            train_ds, test_ds, source = _data(name, folder)
        except Exception as e:  # noqa: BLE001  (no data: the section says so)
            sec.skipped.append(f"{name}: no data ({type(e).__name__}: {str(e).splitlines()[0]})")
            continue
        curve, n, n_test = _to_target(sec, name, train_ds, test_ds, target, sz)
        hit = [s for s, a in curve if a >= target]
        sec.rows.append(
            {
                "dataset": name,
                "model": sz.tta_model,
                "data": source,
                "training_images": n,
                "test_images": n_test,
                "target": target,
                "reached": bool(hit),
                "seconds_to_target": hit[0] if hit else None,
                "epochs": len(curve),
                "best_accuracy": max(a for _, a in curve),
                "first_epoch_s": curve[0][0],
                "total_s": curve[-1][0],
            }
        )
    sec.notes.append(f"{sz.tta_model}, the lenet recipe (adam 1e-3, cosine to 1 % over {sz.tta_epochs} epochs, "
                     "shifts of up to 2 pixels, batch 128); clock from the call to fit, compilation and every "
                     "evaluation included")  # fmt: skip


def _bf16(sec: Section, sz: Sizes) -> None:
    import _loops
    import jax.numpy as jnp

    for label in sz.bf16_models:
        t = _loops.task(label, sz.bf16_examples)
        row = {"model": label, "batch": min(128, sz.bf16_examples), "examples": sz.bf16_examples}
        for name, dtype in (("float32", None), ("bfloat16", jnp.bfloat16)):
            if sec.has_time(f"{label} {name}"):
                times, loss = _loops.train_cnnlab(t, row["batch"], 3, compute_dtype=dtype)
                row[name] = {"images_per_s": (sz.bf16_examples // row["batch"]) * row["batch"] / min(times[1:]),
                             "first_epoch_s": times[0], "last_loss": loss}  # fmt: skip
        sec.rows.append(row)
    sec.notes.append("train.fit, adam, synthetic data; the best of 2 epochs after the first")


SECTIONS = {
    "ops": lambda s, sz, tiny: _ops(s, sz),
    "zoo": _zoo,
    "many": lambda s, sz, tiny: _many(s, sz),
    "time_to_accuracy": lambda s, sz, tiny: _time_to_accuracy(s, sz),
    "bf16": lambda s, sz, tiny: _bf16(s, sz),
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
    sizes, budgets, sections = (TINY if tiny else Sizes()), (TINY_BUDGETS if tiny else BUDGETS), {}
    for name, fn in SECTIONS.items():
        sec = Section(name, budgets[name])
        if missing:
            sec.skipped.append(f"everything: {', '.join(missing)} missing")
        else:
            try:
                fn(sec, sizes, tiny)
            except Exception as e:  # noqa: BLE001  (recorded, and the run's exit status says so)
                sec.notes.append(f"error: {type(e).__name__}: {e}")
                traceback.print_exc()
        sections[name] = sec.result() | {"error": any(n.startswith("error:") for n in sec.notes)}
        print(f"{name}: {sections[name]['seconds']:.1f} s of {sec.budget} s", flush=True)
    return {"env": env, "sizes": asdict(sizes), "sections": sections}


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
