"""cnnlab.ops against jax.lax / jax.image on the shapes of the classic models.

Forward and forward+backward times of each op and its library counterpart, measured in
one process, interleaved (ours, theirs, ours, ...) so that both see the same machine
state, and reported as ratios. Targets (forward+backward, CPU) come from issue 2:
conv2d <= 1.3x lax.conv_general_dilated, conv2d_transpose <= 1.5x lax.conv_transpose,
max pooling <= 0.5x lax.reduce_window, upsampling <= 1.0x jax.image.resize.

    python benchmarks/ops.py                 # print the table
    python benchmarks/ops.py --write         # and record it in docs/benchmarks.md
    python benchmarks/ops.py --scan          # also time conv2d inside lax.scan
"""

import argparse
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnlab import ops

DN = ("NHWC", "HWIO", "NHWC")


@dataclass(frozen=True)
class Case:
    name: str
    shape: str
    ours: Callable
    theirs: Callable
    inputs: tuple  # shapes of the differentiable inputs
    target: float | None  # forward+backward ratio to meet, or None (informational)


def _conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=DN)


def _max_pool(x, k=2):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, k, k, 1), (1, k, k, 1), "VALID")


def _avg_pool(x, k=2):
    return lax.reduce_window(x, 0.0, lax.add, (1, k, k, 1), (1, k, k, 1), "VALID") / (k * k)


def _resize(x, method, s=2):
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, h * s, w * s, c), method)


def _conv_t(x, w):
    return lax.conv_transpose(x, w, (2, 2), "SAME", dimension_numbers=DN, transpose_kernel=True)


def _bn_ref(x, g, b):
    # The straightforward jnp batch norm (what flax computes), as the baseline.
    m = x.mean((0, 1, 2))
    v = x.var((0, 1, 2))
    return (x - m) * lax.rsqrt(v + 1e-3) * g + b


def cases(batch: int) -> list[Case]:
    b = batch
    out = []
    for h, cin, cout in [(28, 1, 32), (14, 32, 16), (7, 64, 32)]:
        out.append(
            Case(
                "conv2d 3x3 SAME",
                f"{b}x{h}x{h}x{cin}->{cout}",
                partial(ops.conv2d, padding="SAME"),
                _conv,
                ((b, h, h, cin), (3, 3, cin, cout)),
                1.3,
            )
        )
    out.append(
        Case(
            "conv2d_transpose 3x3/2 SAME",
            f"{b}x7x7x64->14x14x32",
            partial(ops.conv2d_transpose, stride=2, padding="SAME"),
            _conv_t,
            ((b, 7, 7, 64), (3, 3, 32, 64)),
            1.5,
        )
    )
    for h, c in [(28, 32), (14, 16)]:
        out.append(
            Case(
                "max_pool2d 2x2", f"{b}x{h}x{h}x{c}", partial(ops.max_pool2d, window=2), _max_pool, ((b, h, h, c),), 0.5
            )
        )
    for h, c in [(7, 16), (14, 32)]:
        out.append(
            Case(
                "upsample2d nearest x2",
                f"{b}x{h}x{h}x{c}",
                partial(ops.upsample2d, scale=2),
                partial(_resize, method="nearest"),
                ((b, h, h, c),),
                1.0,
            )
        )
    out.append(
        Case("avg_pool2d 2x2", f"{b}x28x28x32", partial(ops.avg_pool2d, window=2), _avg_pool, ((b, 28, 28, 32),), None)
    )
    out.append(
        Case(
            "upsample2d bilinear x2",
            f"{b}x14x14x32",
            partial(ops.upsample2d, scale=2, method="bilinear"),
            partial(_resize, method="bilinear"),
            ((b, 14, 14, 32),),
            None,
        )
    )
    out.append(
        Case(
            "batch_norm (training)",
            f"{b}x14x14x32",
            lambda x, g, bb: ops.batch_norm(x, g, bb, jnp.zeros(32), jnp.ones(32), training=True)[0],
            lambda x, g, bb: _bn_ref(x, g.reshape(1, 1, 1, -1), bb.reshape(1, 1, 1, -1)),
            ((b, 14, 14, 32), (32,), (32,)),
            None,
        )
    )
    return out


def _fwd_bwd(fn, n_inputs):
    # A nonlinearity after the op, and the loss value returned, so the forward pass is
    # really computed (with a linear loss XLA would prune it: the gradient of a linear
    # function does not need its value), as in a training step.
    def loss(*args):
        *xs, cot = args
        return jnp.sum(jnp.tanh(fn(*xs)) * cot)

    return jax.jit(jax.value_and_grad(loss, argnums=tuple(range(n_inputs))))


def _time_pair(f_ours, f_theirs, args, reps: int) -> tuple[float, float]:
    """Best (minimum) seconds of each over `reps` interleaved calls, after two warm-up calls.

    The minimum, as `timeit` recommends: on a shared machine, noise only ever adds time.
    """
    for f in (f_ours, f_theirs):
        jax.block_until_ready(f(*args))
        jax.block_until_ready(f(*args))
    t_ours, t_theirs = [], []
    for _ in range(reps):
        for f, acc in ((f_ours, t_ours), (f_theirs, t_theirs)):
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args))
            acc.append(time.perf_counter() - t0)
    return min(t_ours), min(t_theirs)


def _sgd_epoch(conv, w, xs):
    """`len(xs)` steps of SGD on `sum(tanh(conv(x, w)))`, compiled as one `lax.scan`."""

    def step(w, x):
        gw = jax.grad(lambda w: jnp.sum(jnp.tanh(conv(x, w))))(w)
        return w - 1e-3 * gw, None

    return lax.scan(step, w, xs)[0]


def _scan_rows(batch: int, reps: int, steps: int = 8) -> list[tuple]:
    """conv2d forward+backward as the body of a lax.scan of `steps` steps (the compiled epoch)."""
    rows = []
    for h, cin, cout in [(28, 1, 32), (14, 32, 16)]:
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal((steps, batch, h, h, cin)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((3, 3, cin, cout)), jnp.float32) * 0.1

        f_ours = jax.jit(partial(_sgd_epoch, partial(ops.conv2d, padding="SAME")))
        f_theirs = jax.jit(partial(_sgd_epoch, _conv))
        a, b = _time_pair(f_ours, f_theirs, (w, x), reps)
        rows.append(
            (
                f"conv2d in lax.scan ({steps} steps)",
                f"{batch}x{h}x{h}x{cin}->{cout}",
                None,
                None,
                a / steps,
                b / steps,
                None,
            )
        )
    return rows


def run(batch: int = 128, reps: int = 30, scan: bool = False) -> list[tuple]:
    rows = []
    for case in cases(batch):
        rng = np.random.default_rng(0)
        xs = tuple(jnp.asarray(rng.standard_normal(s), jnp.float32) for s in case.inputs)
        out_shape = jax.eval_shape(case.ours, *xs).shape
        assert out_shape == jax.eval_shape(case.theirs, *xs).shape, case.name
        np.testing.assert_allclose(case.ours(*xs), case.theirs(*xs), rtol=2e-4, atol=2e-4, err_msg=case.name)
        cot = jnp.asarray(rng.standard_normal(out_shape), jnp.float32)
        f_ours, f_theirs = _time_pair(jax.jit(case.ours), jax.jit(case.theirs), xs, reps)
        b_ours, b_theirs = _time_pair(_fwd_bwd(case.ours, len(xs)), _fwd_bwd(case.theirs, len(xs)), (*xs, cot), reps)
        rows.append((case.name, case.shape, f_ours, f_theirs, b_ours, b_theirs, case.target))
        print(_fmt(rows[-1]), flush=True)
    if scan:
        for row in _scan_rows(batch, max(reps // 3, 5)):
            rows.append(row)
            print(_fmt(row), flush=True)
    return rows


def _ms(t):
    return "" if t is None else f"{t * 1e3:.2f}"


def _fmt(row) -> str:
    name, shape, fo, ft, bo, bt, target = row
    f_ratio = "" if fo is None else f"{fo / ft:.2f}x"
    verdict = "" if target is None else ("meets" if bo / bt <= target else "MISSES")
    tgt = "" if target is None else f"<= {target}x"
    cells = [name, shape, _ms(fo), _ms(ft), f_ratio, _ms(bo), _ms(bt), f"{bo / bt:.2f}x", f"{tgt} {verdict}"]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| op | shape (NHWC) | fwd ours ms | fwd lax ms | fwd ratio "
    "| fwd+bwd ours ms | fwd+bwd lax ms | fwd+bwd ratio | target |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return (
        f"{cpu}, {os.cpu_count()} cores visible; jax {jax.__version__} on {jax.default_backend()} "
        f"({jax.devices()[0].device_kind}); Python {platform.python_version()}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--reps", type=int, default=30, help="timed calls per function (the best is reported)")
    parser.add_argument("--scan", action="store_true", help="also time conv2d inside lax.scan")
    parser.add_argument("--write", action="store_true", help="record the table in docs/benchmarks.md")
    args = parser.parse_args()
    jax.config.update("jax_default_matmul_precision", "highest")
    print(machine())
    print(HEADER)
    rows = run(args.batch, args.reps, args.scan)
    if args.write:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        table = "\n".join([HEADER, *(_fmt(r) for r in rows)])
        path = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        marker = "<!-- ops-table -->"
        block = (
            f"{marker}\nMeasured by `python benchmarks/ops.py --scan --write` at commit {rev} on "
            f"{time.strftime('%Y-%m-%d')}: {machine()}. Batch {args.batch}; best of {args.reps} "
            f"interleaved calls; times in ms.\n\n{table}\n{marker}"
        )
        if marker in text:
            start, end = text.index(marker), text.rindex(marker) + len(marker)
            text = text[:start] + block + text[end:]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
