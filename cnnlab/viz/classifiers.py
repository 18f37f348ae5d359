"""Classifier figures: the mistakes a model makes, with its softmax over the classes, and a confusion matrix.

`pick_mistakes` chooses which errors to show, spread over the true classes (a test set
sorted by class would otherwise show only its first digits' errors); `mistakes` draws each
chosen image above a bar per class of its softmax probabilities; `confusion_matrix` counts
and draws true against predicted classes.
"""

from collections.abc import Sequence

import numpy as np

from cnnlab.viz.images import to_display

__all__ = ["confusion_counts", "confusion_matrix", "kernels_and_outputs", "mistakes", "pick_mistakes"]


def pick_mistakes(labels, predictions, n: int, *, seed: int = 0) -> np.ndarray:
    """Indices of up to ``n`` misclassified examples, drawn across the true classes in turn.

    Round-robin over the true classes that have errors (a random order of classes, then a
    random error of each, then a second error of each, ...), so a class-sorted test set shows
    errors of every class that has them, not the first ``n`` of one.

    Args:
      labels, predictions: ``(N,)`` integer classes.
      n: how many to pick at most (all the errors when there are fewer).
      seed: the random order's seed.

    Returns:
      ``(min(n, errors),)`` int indices into the examples.

    Example:
      >>> labels = np.array([0, 0, 0, 1, 1, 2])
      >>> sorted(labels[pick_mistakes(labels, np.array([1, 1, 1, 0, 1, 0]), 3)].tolist())  # one of each
      [0, 1, 2]
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(
            f"pick_mistakes: labels and predictions must be (N,) arrays of one shape; got {labels.shape} "
            f"and {predictions.shape}"
        )
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"pick_mistakes: n must be a whole number >= 0; got {n!r}")
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(labels != predictions)
    queues = [rng.permutation(wrong[labels[wrong] == c]).tolist() for c in rng.permutation(np.unique(labels[wrong]))]
    picked = []
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return np.asarray(picked, dtype=np.int64)


def mistakes(images, labels, probabilities, class_names: Sequence[str], *, columns: int = 6, title: str = ""):
    """Each image above its softmax probabilities, one bar per class: true class green, predicted red.

    Args:
      images: ``(n, H, W[, C])`` the misclassified images (uint8 or floats in [0, 1]).
      labels: ``(n,)`` their true classes.
      probabilities: ``(n, K)`` the model's softmax for each (rows sum to 1).
      class_names: the ``K`` class names (ticks under the bars).
      columns: images per row.
      title: the figure's title.

    Returns:
      A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    probs = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    shown = to_display(images)
    k = len(class_names)
    if probs.ndim != 2 or probs.shape != (len(shown), k) or len(labels) != len(shown):
        raise ValueError(
            f"mistakes: need n images, n labels and (n, {k}) probabilities; got {len(shown)} images, "
            f"{len(labels)} labels and probabilities {probs.shape}"
        )
    if not np.allclose(probs.sum(-1), 1.0, atol=1e-3) or probs.min() < 0:
        raise ValueError(
            "mistakes: probabilities must be softmax outputs (non-negative, rows summing to 1), not logits"
        )
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(2 * rows, columns, figsize=(1.9 * columns, 3.4 * rows), squeeze=False,
                             gridspec_kw=dict(height_ratios=[1.4, 1] * rows))  # fmt: skip
    for ax in axes.ravel():
        ax.set_visible(False)
    short = [str(name)[:6] for name in class_names]
    for i, (img, y, p) in enumerate(zip(shown, labels, probs, strict=True)):
        r, c = divmod(i, columns)
        pred = int(p.argmax())
        ax_img, ax_bar = axes[2 * r, c], axes[2 * r + 1, c]
        ax_img.set_visible(True)
        ax_img.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_title(f"true {class_names[y]}, said {class_names[pred]}", fontsize=8)
        ax_bar.set_visible(True)
        colours = ["tab:green" if j == y else "tab:red" if j == pred else "0.6" for j in range(k)]
        ax_bar.bar(range(k), p, color=colours)
        ax_bar.set_ylim(0, 1)
        ax_bar.set_xticks(range(k), short, fontsize=6, rotation=90 if max(map(len, short)) > 1 else 0)
        ax_bar.tick_params(axis="y", labelsize=6)
        if c == 0:
            ax_bar.set_ylabel("softmax probability", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_counts(labels, predictions, k: int) -> np.ndarray:
    """``(k, k)`` int64 counts: row = true class, column = predicted class."""
    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    return counts


def confusion_matrix(confusion, class_names: Sequence[str], *, title: str = "Test-set confusion matrix"):
    """``confusion`` (rows true, columns predicted) shaded by each true class's share, counts written in."""
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(0.5 * k + 2, 0.5 * k + 1.5))
    share = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i, j in zip(*np.nonzero(confusion), strict=True):
        colour = "white" if share[i, j] > 0.5 else "black"
        ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(k), class_names, rotation=60, fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(im, ax=ax, label="share of the true class")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def kernels_and_outputs(kernels, outputs, *, title: str = ""):
    """Seed 003 Q11's figure: each first-layer kernel (top row) above what it makes of one image (bottom).

    Args:
      kernels: ``(KH, KW, 1, C)`` HWIO kernels of a one-channel convolution.
      outputs: ``(H, W, C)`` the convolution's output (before its activation, as the seed's
        ``layer(images)`` of the bare ``nn.Conv2d``) for one image.
      title: the figure's title.

    Both rows use the seed's ``bwr`` colour map, each panel centred at zero (white).
    """
    import matplotlib.pyplot as plt

    kernels, outputs = np.asarray(kernels), np.asarray(outputs)
    if kernels.ndim != 4 or kernels.shape[2] != 1 or outputs.ndim != 3 or outputs.shape[-1] != kernels.shape[-1]:
        raise ValueError(
            f"kernels_and_outputs: need (KH, KW, 1, C) kernels and (H, W, C) outputs with the same C; got "
            f"{kernels.shape} and {outputs.shape}"
        )
    c = kernels.shape[-1]
    fig, axes = plt.subplots(2, c, figsize=(2 * c, 4), squeeze=False)
    for i in range(c):
        for ax, img in ((axes[0, i], kernels[:, :, 0, i]), (axes[1, i], outputs[..., i])):
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap="bwr", vmin=-lim, vmax=lim)
            ax.axis("off")
        axes[0, i].set_title(f"kernel {i}", fontsize=9)
        axes[1, i].set_title(f"output {i}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
