"""Figures of two implementations of one model side by side: reconstructions, and predicted classes."""

from collections.abc import Sequence

import numpy as np


def reconstructions(x, ref, ours, *, names: tuple[str, str] = ("reference", "cnnlab"), n: int = 10, title=None):
    """Originals above two models' reconstructions of them, one image per column.

    Args:
      x: ``(N, H, W, 1)`` originals in [0, 1], ``N >= n``.
      ref, ours: the reference and cnnlab reconstructions, shaped like ``x``.
      names: the two models' row labels.
      n: images shown.
      title: the figure's title (default: names both).

    Returns:
      A matplotlib ``Figure`` with rows "original", ``names[0]`` and ``names[1]``.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, n, figsize=(n * 1.1, 3.6), squeeze=False)
    for row, (label, imgs) in enumerate([("original", x), (names[0], ref), (names[1], ours)]):
        for i in range(n):
            ax = axes[row, i]
            ax.imshow(np.asarray(imgs)[i, :, :, 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[row, 0].set_ylabel(label)
    fig.suptitle(title or f"Reconstructions: {names[0]} and {names[1]} with the same weights")
    fig.tight_layout()
    return fig


def predictions(x, labels, rows: Sequence[tuple[str, np.ndarray, np.ndarray]], *, n: int = 10, title=None):
    """Test images with each model pair's predicted class and probability, reference above cnnlab.

    Args:
      x: ``(N, H, W, 1)`` images in [0, 1], ``N >= n``.
      labels: ``(N,)`` true classes, written under each image.
      rows: ``(name, p_ref, p_ours)`` per model pair, probabilities ``(N, K)``.
      n: images shown.
      title: the figure's title.

    Returns:
      A matplotlib ``Figure``, a row per pair: above each image ``"k p"`` for the reference's
      most probable class ``k`` (upper line) and cnnlab's (lower line).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), n, figsize=(n * 1.2, 2.2 * len(rows)), squeeze=False)
    for r, (name, p_ref, p_ours) in enumerate(rows):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(np.asarray(x)[i, :, :, 0], cmap="gray", vmin=0, vmax=1)
            k, c = int(p_ref[i].argmax()), int(p_ours[i].argmax())
            ax.set_title(f"{k} {p_ref[i, k]:.4f}\n{c} {p_ours[i, c]:.4f}", fontsize=7)
            ax.set_xlabel(f"label {labels[i]}", fontsize=7)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(
        title or "Predicted class and probability: reference framework (upper line) vs cnnlab (lower)", fontsize=9
    )
    fig.tight_layout()
    return fig
