"""The operator tour: every cnnlab op on one image, checked against jax.lax, drawn as a figure.

`cnnlab demo` runs it. It needs no data: the image is drawn here (a ring, a bar and a
dot on 28x28, the size of an MNIST digit). Each op's output is compared with its
`jax.lax` / `jax.image` counterpart, and the largest difference is written beside it.
"""

import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnlab import ops

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def demo_image(size: int = 28) -> np.ndarray:
    """A 28x28 float image in [0, 1]: a ring, a diagonal bar and a dot."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    ring = np.abs(np.hypot(yy - 0.4, xx - 0.4) - 0.25) < 0.05
    bar = (np.abs(yy - xx * 0.5 - 0.55) < 0.04) & (xx > 0.3)
    dot = np.hypot(yy - 0.8, xx - 0.8) < 0.07
    return (ring | bar | dot).astype(np.float32)


def _tour(x):
    """(name, ours, oracle) for each op on the NHWC image batch `x` (1, 28, 28, 1)."""
    dn = ("NHWC", "HWIO", "NHWC")
    edges = jnp.asarray(np.stack([SOBEL_X, SOBEL_X.T], -1)[:, :, None, :], jnp.float32)  # (3, 3, 1, 2)
    up_k = jnp.asarray(np.random.default_rng(0).standard_normal((3, 3, 2, 1)), jnp.float32) / 3
    e = ops.conv2d(x, edges, padding="SAME")
    return [
        ("conv2d (Sobel x, y)", e, lax.conv_general_dilated(x, edges, (1, 1), "SAME", dimension_numbers=dn)),
        (
            "max_pool2d 2x2",
            ops.max_pool2d(x, 2),
            lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
        ),
        (
            "avg_pool2d 3x3/2 SAME",
            ops.avg_pool2d(x, 3, stride=2, padding="SAME"),
            lax.reduce_window(x, 0.0, lax.add, (1, 3, 3, 1), (1, 2, 2, 1), "SAME")
            / lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, (1, 3, 3, 1), (1, 2, 2, 1), "SAME"),
        ),
        (
            "upsample2d bilinear x2",
            ops.upsample2d(ops.max_pool2d(x, 2), 2, method="bilinear"),
            jax.image.resize(ops.max_pool2d(x, 2), (1, 28, 28, 1), "bilinear"),
        ),
        (
            "conv2d_transpose 3x3/2",
            ops.conv2d_transpose(ops.max_pool2d(x, 2), up_k, stride=2, padding="SAME"),
            lax.conv_transpose(ops.max_pool2d(x, 2), up_k, (2, 2), "SAME", dimension_numbers=dn, transpose_kernel=True),
        ),
    ]


def run(out_dir="results/ops_demo") -> dict:
    """Run the tour, write `figure.png`, `metrics.json` and `report.md` to `out_dir`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = jnp.asarray(demo_image())[None, :, :, None]
    tour = _tour(x)
    diffs = {name: float(jnp.max(jnp.abs(ours - theirs))) for name, ours, theirs in tour}

    panels = [("input 28x28", np.asarray(x[0, :, :, 0]))]
    for name, ours, _ in tour:
        for c in range(ours.shape[-1]):
            panels.append((f"{name}\n[{c}] {tuple(ours.shape[1:3])}", np.asarray(ours[0, :, :, c])))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.8))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray")
        ax.set_title(title, fontsize=7)
        ax.axis("off")
    fig.suptitle("cnnlab.ops on a 28x28 image (max |ours - lax| in report.md)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "figure.png", dpi=110)
    plt.close(fig)

    metrics = {
        "max_abs_diff_vs_lax": diffs,
        "all_within_1e-5": all(v <= 1e-5 for v in diffs.values()),
        "versions": {"jax": jax.__version__, "python": platform.python_version()},
        "device": str(jax.devices()[0]),
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    rows = "\n".join(f"| {name} | {d:.2e} |" for name, d in diffs.items())
    (out / "report.md").write_text(
        "# cnnlab.ops tour\n\n![ops](figure.png)\n\n"
        "| op | max abs difference from jax.lax / jax.image |\n| --- | --- |\n"
        f"{rows}\n\nDevice: {metrics['device']}; jax {jax.__version__}.\n"
    )
    return metrics
