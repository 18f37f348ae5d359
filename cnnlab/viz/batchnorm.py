"""Figures of seed 002's batch-normalization section: its sample grid, its loss and accuracy curves, its theory.

- `sample_grid`: the seed's "Visualizing CIFAR 10" cell, 2x5 random training images.
- `loss_and_accuracy`: the seed's ``visualize_loss_and_acc``, one row per model: training
  loss and accuracy as dots, validation as a line. The seed labels its accuracy axis "Loss"
  (a copy-paste slip); here it says "Accuracy".
- `theory`: `cnnlab.bn_theory.demo`'s answers to the seed's two questions.
"""

from collections.abc import Mapping

import numpy as np

__all__ = ["loss_and_accuracy", "sample_grid", "theory"]

SOURCE = "seed 002, section 1 (Batch Normalization)"


def sample_grid(images: np.ndarray, labels, class_names, *, seed: int = 0, title: str = ""):
    """2x5 training images drawn at random (with ``seed``), each titled with its class, as seed 002 draws them.

    Args:
      images: uint8 ``(N, H, W, C)`` with C 1 or 3; labels: ``(N,)``; class_names: one per class.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) < 1:
        raise ValueError(f"sample_grid: images must be (N >= 1, H, W, 1 or 3); got shape {images.shape}")
    picks = np.random.default_rng(seed).choice(len(images), 10, replace=len(images) < 10)
    fig, axes = plt.subplots(2, 5, figsize=(10, 4.8))
    for ax, i in zip(axes.ravel(), picks):
        img = images[i]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
        ax.set_title(str(class_names[int(labels[i])]), fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title or f"10 random training images ({SOURCE})", fontsize=10)
    fig.tight_layout()
    return fig


def _records(h) -> list[dict]:
    return h.records if hasattr(h, "records") else list(h)


def loss_and_accuracy(histories: Mapping[str, object], *, data: str):
    """Seed 002's ``visualize_loss_and_acc`` for each model: a row of loss and accuracy per epoch.

    Args:
      histories: model name -> `cnnlab.train.History` (or its records) with ``loss``,
        ``accuracy``, ``val_loss`` and ``val_accuracy``.
      data: what was trained on, for the title.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(len(histories), 2, figsize=(11, 3.4 * len(histories)), squeeze=False)
    for row, (name, h) in zip(axes, histories.items()):
        rec = _records(h)
        epochs = [r["epoch"] for r in rec]
        for ax, key, short, word in zip(row, ("loss", "accuracy"), ("loss", "acc"), ("Loss", "Accuracy")):
            ax.plot(epochs, [r[key] for r in rec], "bo", label=f"Training {short}")
            ax.plot(epochs, [r[f"val_{key}"] for r in rec], "b", label=f"Validation {short}")
            ax.set_title(f"{name}: training and validation {key}", fontsize=10)
            ax.set_xlabel("Epochs")
            ax.set_ylabel(word)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(f"visualize_loss_and_acc ({SOURCE}) on {data}", fontsize=10)
    fig.tight_layout()
    return fig


def _bias_panel(ax, bias: dict) -> None:
    keep = bias["bias_scale"] > 0  # b = 0 gives exactly 0 difference: no place on a log axis
    scale = bias["bias_scale"][keep]
    ax.loglog(scale, np.maximum(bias["max_abs_diff"][keep], 1e-9), "o-", label="max |BN(xW+b) - BN(xW)|")
    ax.loglog(scale, np.maximum(bias["grad_b"][keep], 1e-9), "s-", label="max |dL/db|")
    ax.loglog(scale, bias["grad_w"][keep], "^-", label="max |dL/dW| (for scale)")
    ax.loglog(scale, np.finfo(np.float32).eps * (1 + scale), "k:", lw=1, label="float32 eps x (1 + |b|)")
    ax.set_xlabel("max |b|, the bias added before batch norm")
    ax.set_ylabel("absolute value")
    ax.set_title("1. The bias before BN changes nothing")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")


def _sigmoid_panel(ax, d) -> None:
    grid = np.linspace(-10, 10, 400)
    ax.plot(grid, 1 / (1 + np.exp(-grid)), "k", lw=1.5, label="sigmoid")
    ax.plot(grid, 0.5 + grid / 4, "k--", lw=1, label="tangent 1/2 + z/4")
    ax.axvspan(-1, 1, color="0.85", label="|z| <= 1")
    bins = np.linspace(-10, 10, 81)
    for z, st, name, color in (
        (d.z, d.standardized, "gamma = 1", "C0"),
        (d.scale * d.z, d.scaled, f"gamma = {d.scale:g}", "C1"),
    ):
        hist, _ = np.histogram(z, bins)
        ax.stairs(hist / hist.max() * 0.9, bins, color=color, fill=False, lw=1.5,
                  label=f"BN output, {name}: {st['share_in_band']:.0%} in band, R² {st['r2']:.3f}")  # fmt: skip
    ax.set_ylim(-0.5, 1.5)
    ax.set_xlabel("z, the batch-normalized pre-activation")
    ax.set_ylabel("sigmoid(z); histograms scaled to 0.9")
    ax.set_title("2. Unit variance keeps sigmoid nearly linear")
    ax.text(0.98, 0.04, f"gamma = sqrt(var + eps), beta = mean undo BN:\nmax |BN(z) - z| = {d.identity_gap:.1e}",
            transform=ax.transAxes, fontsize=7, ha="right")  # fmt: skip
    ax.legend(fontsize=7, loc="upper left")


def theory(d, *, title: str = ""):
    """`cnnlab.bn_theory.Demo` as two panels: the bias that BN removes, and sigmoid on standardized values.

    Returns:
      A matplotlib ``Figure``. Left: max differences and gradients against the bias size (log-log),
      with float32's rounding level. Right: sigmoid, its tangent at 0, the band |z| <= 1 and
      histograms of the BN output with gamma 1 and with a larger gamma.
    """
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    _bias_panel(ax1, d.bias)
    _sigmoid_panel(ax2, d)
    fig.suptitle(title or f"Batch-norm theory, measured ({SOURCE}, questions 1.2 and 1.3)", fontsize=10)
    fig.tight_layout()
    return fig
