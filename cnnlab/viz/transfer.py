"""Figures of the transfer-learning segmentation study (seed 002, section 3): the two training
phases' curves on one epoch axis, and inputs beside their true and predicted foreground regions."""

import numpy as np

from cnnlab.viz.curves import _epoch_axis, _records

__all__ = ["phase_curves", "predicted_regions"]


def phase_curves(phases, keys=("loss", "accuracy"), *, title: str | None = None):
    """One panel per quantity: training (solid) and validation (dashed) per epoch, each phase in its
    own colour, the epochs of later phases counted on from the earlier ones (a dotted line where a
    phase begins).

    Args:
      phases: ``[(label, History), ...]`` in the order they trained (e.g. frozen, then fine-tuned).
      keys: quantities recorded in every history (``val_<key>`` drawn when present).
      title: the figure's title.

    Returns:
      A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        start = 0
        for i, (label, h) in enumerate(phases):
            rec = _records(h)
            ep = [start + r["epoch"] for r in rec]
            if i:
                ax.axvline(start + 0.5, color="0.6", ls=":", lw=1)
            ax.plot(ep, [r[key] for r in rec], "o-", ms=3, color=f"C{i}", label=f"{label} (train)")
            if f"val_{key}" in rec[0]:
                ax.plot(ep, [r[f"val_{key}"] for r in rec], "s--", ms=3, color=f"C{i}", label=f"{label} (validation)")
            start = ep[-1]
        _epoch_axis(ax, key)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def predicted_regions(images, masks, probabilities, *, what: str = "input", title: str = ""):
    """Inputs (top), their true foreground (middle) and the predicted probability of foreground
    (bottom, 0 black to 1 white, the 0.5 boundary drawn in red), one column per image, as seed 002
    shows "10 input images and the regions predicted to be horse or dog".

    Args:
      images: uint8 ``(n, H, W)`` / ``(n, H, W, 1)`` grey or ``(n, H, W, 3)`` RGB.
      masks: ``(n, H, W)`` 0/1 true foreground.
      probabilities: ``(n, H, W)`` predicted probability of foreground; each column is labelled
        with its share of pixels right at the 0.5 threshold.
      what: the first row's label.
      title: the figure's title.

    Returns:
      A matplotlib ``Figure`` with a ``(3, n)`` grid of axes.
    """
    import matplotlib.pyplot as plt

    images, masks, probabilities = np.asarray(images), np.asarray(masks), np.asarray(probabilities)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n = len(images)
    if not (len(masks) == len(probabilities) == n) or masks.shape != probabilities.shape:
        raise ValueError(
            f"predicted_regions: images {images.shape}, masks {masks.shape} and probabilities "
            f"{probabilities.shape} must pair one to one, (n, H, W) each"
        )
    fig, axes = plt.subplots(3, n, figsize=(1.5 * n + 0.8, 4.9), squeeze=False)
    for i in range(n):
        grey = images[i].ndim == 2
        axes[0, i].imshow(images[i], cmap="gray" if grey else None, vmin=0, vmax=255, interpolation="nearest")
        axes[1, i].imshow(masks[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[2, i].imshow(probabilities[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        if 0 < probabilities[i].min() < 0.5 < probabilities[i].max():
            axes[2, i].contour(probabilities[i], levels=[0.5], colors="red", linewidths=0.8)
        right = float(((probabilities[i] > 0.5) == (masks[i] > 0.5)).mean())
        axes[2, i].set_xlabel(f"{right:.1%} right", fontsize=7)
        for row in range(3):
            axes[row, i].set_xticks([])
            axes[row, i].set_yticks([])
    for row, label in enumerate((what, "true region", "predicted\nP(foreground)")):
        axes[row, 0].set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
