"""`device.py`'s result as markdown: the machine and versions, then one table per section."""

from _common import table


def _ims(r: dict | None):
    return None if not r else r["images_per_s"]


def _ratio(a, b):
    return None if a is None or b is None else a / b


def _ops(rows):
    header = ["op", "shape (NHWC)", "batch", "fwd ours ms", "fwd lax ms", "fwd+bwd ours ms", "fwd+bwd lax ms",
              "fwd+bwd ours / lax", "max fwd err", "max grad err (rel)", "agree"]  # fmt: skip
    return table(header, [[r["op"], r["shape"], r["batch"], r["fwd_ours_ms"], r["fwd_lax_ms"], r["fwd_bwd_ours_ms"],
                           r["fwd_bwd_lax_ms"], r["fwd_bwd_ratio"], f"{r['max_fwd_err']:.1e}",
                           f"{r['max_grad_rel_err']:.1e}", "yes" if r["agree"] else "NO"] for r in rows])  # fmt: skip


def _zoo(rows):
    names = ("cnnlab scan", "Flax NNX per-step", "PyTorch CUDA")
    header = ["model", "batch", *(f"{n} images/s" for n in names), "scan / Flax", "scan / PyTorch",
              "first epoch s (scan / Flax)"]  # fmt: skip
    out = []
    for r in rows:
        ims = [_ims(r.get(n)) for n in names]
        first = " / ".join(f"{r[n]['first_epoch_s']:.1f}" if n in r else "-" for n in names[:2])
        out.append([r["model"], r["batch"], *ims, _ratio(ims[0], ims[1]), _ratio(ims[0], ims[2]), first])
    return table(header, out)


def _many(rows):
    header = ["N members", "images/s (all members)", "images/s per member", "compile s"]
    return table(header, [[r["members"], r["images_per_s"], r["per_member"], r["compile_s"]] for r in rows])


def _tta(rows):
    header = ["dataset", "model", "data", "training images", "target", "reached after s", "epochs", "best test acc",
              "first epoch s (compile)"]  # fmt: skip
    return table(header, [[r["dataset"], r["model"], r["data"], r["training_images"], f"{r['target']:.0%}",
                           r["seconds_to_target"] if r["reached"] else "not reached", r["epochs"],
                           f"{r['best_accuracy']:.4f}", r["first_epoch_s"]] for r in rows])  # fmt: skip


def _bf16(rows):
    header = ["model", "batch", "float32 images/s", "bfloat16 images/s", "bf16 / f32", "last loss f32 / bf16"]
    out = []
    for r in rows:
        f, b = _ims(r.get("float32")), _ims(r.get("bfloat16"))
        loss = " / ".join(f"{r[k]['last_loss']:.4f}" if k in r else "-" for k in ("float32", "bfloat16"))
        out.append([r["model"], r["batch"], f, b, _ratio(b, f), loss])
    return table(header, out)


TITLES = {"ops": ("cnnlab.ops against jax.lax, forward+backward", _ops),
          "zoo": ("Zoo training throughput: cnnlab's compiled epoch against per-step peers", _zoo),
          "many": ("fit_many scaling", _many),
          "time_to_accuracy": ("Time to accuracy, compilation included", _tta),
          "bf16": ("bfloat16 against float32 (train.fit compute_dtype)", _bf16)}  # fmt: skip


def markdown(result: dict) -> str:
    env = result["env"]
    v = env["versions"]
    dev, cpu = env["device"], env["cpu"]
    lines = [
        f"Measured by `python benchmarks/device.py{' --tiny' if env['tiny'] else ''}` at commit {env['commit']} on "
        f"{env['date']} in {result.get('wall_s', 0):.0f} s: JAX backend {dev['backend']} ({dev['count']} x "
        f"{dev['kind']}); host CPU {cpu['model']}, {cpu['cores']} cores, {cpu['vector']}.",
        "Versions: " + ", ".join(f"{k} {v[k] or 'MISSING'}" for k in v) + ".",
    ]
    if env["missing"]:
        lines.append(f"**Missing: {', '.join(env['missing'])}**: carry them to run cnnlab here.")
    for name, sec in result["sections"].items():
        title, fmt = TITLES[name]
        lines += ["", f"### {title}", "", f"Section time {sec['seconds']:.0f} s of a {sec['budget_s']} s budget."]
        lines += [f"- {n}" for n in sec["notes"]]
        lines += [f"- not run: {s}" for s in sec["skipped"]]
        if sec["rows"]:
            lines += ["", fmt(sec["rows"])]
    return "\n".join(lines) + "\n"
