"""What the benchmarks share: the machine and package versions, peak memory, a GEMM rate, tables.

Only the standard library at import time (and JAX inside the functions that need it), so
that `device.py` can report a machine's missing packages before anything else fails.
"""

import importlib.metadata
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

#: The distributions cnnlab needs beside JAX, and the peers the benchmarks compare with.
PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "matplotlib", "torch", "keras")
NEEDED = ("flax", "optax", "orbax-checkpoint", "numpy")


def versions() -> dict:
    """``{distribution: version or None}`` for `PACKAGES` (None: not installed)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def missing_needed(found: dict) -> list[str]:
    """The distributions of `NEEDED` that ``found`` (from `versions`) lacks."""
    return [name for name in NEEDED if found.get(name) is None]


def cpu() -> dict:
    """The CPU's model name, cores visible and widest vector instructions, from ``/proc/cpuinfo``."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    widths = [("avx512f", "AVX-512 (512-bit)"), ("avx2", "AVX2 (256-bit)"), ("avx", "AVX (256-bit)"),
              ("sse4_2", "SSE4.2 (128-bit)"), ("asimd", "NEON (128-bit)")]  # fmt: skip
    vector = next((label for flag, label in widths if flag in flags), "unknown")
    return {"model": model, "cores": os.cpu_count(), "vector": vector}


def device() -> dict:
    """JAX's default backend and devices (imports JAX)."""
    import jax

    devs = jax.devices()
    return {"backend": jax.default_backend(), "kind": devs[0].device_kind, "count": len(devs)}


def commit() -> str:
    """The checked-out commit (short), or "unknown" outside a git work tree."""
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent)  # fmt: skip
    return proc.stdout.strip() or "unknown"


def peak_rss_mb() -> float:
    """This process's peak resident memory, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gemm_gflops(n: int = 1024, reps: int = 10) -> float:
    """The best rate of a float32 ``n x n`` by ``n x n`` ``jnp.dot`` (XLA's GEMM), GFLOP/s."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), jnp.float32)
    b = jnp.full((n, n), 0.5, jnp.float32)
    dot = jax.jit(lambda a, b: jnp.dot(a, b, precision="highest"))
    jax.block_until_ready(dot(a, b))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(dot(a, b))
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table; numbers right-aligned, None as an empty cell."""

    def cell(v):
        return "" if v is None else v if isinstance(v, str) else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"

    align = ["---:" if any(isinstance(r[i], int | float) for r in rows) else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
