"""The five sections of `device.py`, each filling a `Section` with rows within its time budget.

``sz`` is `device.Sizes`: the sizes a section runs at. Each section checks its clock before
every unit of work and names what it had no time for; nothing is dropped silently.
"""

import contextlib
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The zoo models the zoo section trains, most telling first (the budget may stop it early).
ZOO_ORDER = ("MnistCNN", "LeNet5Improved", "CifarCNN", "CifarCNN+BN", "ConvAutoencoder", "NoiseToDigit", "Segmenter")


class Section:
    """A section's rows, what it skipped and why, and its clock against its budget."""

    def __init__(self, name: str, budget: float):
        self.name, self.budget, self.start = name, budget, time.perf_counter()
        self.rows, self.skipped, self.notes = [], [], []

    def has_time(self, what: str, since: float | None = None, share: float | None = None) -> bool:
        """Whether there is time left for ``what`` (of the section, or of a ``share`` of it begun ``since``)."""
        if share is None and time.perf_counter() - self.start < self.budget:
            return True
        if share is not None and time.perf_counter() - since < share:
            return True
        of = f"the section's {self.budget:.0f} s" if share is None else f"its share of {share:.0f} s"
        self.skipped.append(f"{what} ({of} were spent)")
        return False

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)

    def result(self) -> dict:
        return {"rows": self.rows, "skipped": self.skipped, "notes": self.notes, "budget_s": self.budget,
                "seconds": time.perf_counter() - self.start}  # fmt: skip


def ops(sec: Section, sz) -> None:
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


def zoo(sec: Section, sz) -> None:
    import _loops

    no_torch = _torch_cuda()
    if no_torch:
        sec.notes.append(f"PyTorch CUDA not run: {no_torch}")
    runs = {
        "cnnlab scan": lambda t: _loops.train_cnnlab(t, sz.zoo_batch, 3),
        "Flax NNX per-step": lambda t: _loops.train_flax(t, sz.zoo_batch, 3),
        "PyTorch CUDA": None if no_torch else lambda t: _loops.train_torch(t, sz.zoo_batch, 3, device="cuda"),
    }
    for label in sz.zoo_models or ZOO_ORDER:
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


def many(sec: Section, sz) -> None:
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


def _to_target(sec: Section, name: str, train_ds, test_ds, target: float, sz, share: float) -> list:
    """Train ``sz.tta_model`` until ``target`` test accuracy, the epoch budget or ``share`` seconds run out.

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
        stop = more and not sec.has_time(f"{name}: epochs after {len(curve)}", since=t0, share=share)
        return record["val_accuracy"] >= target or stop

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


def time_to_accuracy(sec: Section, sz) -> None:
    runs = (("mnist", "mnist", 0.99), ("fashion_mnist", "fashion-mnist", 0.92))
    for i, (name, folder, target) in enumerate(runs):
        if not sec.has_time(name):
            continue
        try:
            train_ds, test_ds, source = _data(name, folder)
        except Exception as e:  # noqa: BLE001  (no data: the section says so)
            sec.skipped.append(f"{name}: no data ({type(e).__name__}: {str(e).splitlines()[0]})")
            continue
        # Each dataset gets an even share of what is left, so MNIST cannot starve Fashion-MNIST.
        curve, n, n_test = _to_target(sec, name, train_ds, test_ds, target, sz, sec.left() / (len(runs) - i))
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


def bf16(sec: Section, sz) -> None:
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
