"""Figures of class-conditional generators: collapse to the mean, digits by class, legibility against variety.

Images are ``(..., H, W)`` or ``(..., H, W, 1)`` floats in [0, 1]; "predicted" classes are a judge's
(a separately trained classifier's) readings, and a digit it reads as another class than its row's is
framed in red.
"""

import numpy as np

__all__ = ["class_grid", "class_panels", "first_of_each_class", "mean_collapse", "per_class_bars", "quality_diversity"]


def _mark_wrong(ax) -> None:
    """A red frame around ``ax``."""
    for s in ax.spines.values():
        s.set_edgecolor("red")
        s.set_linewidth(2)


def mean_collapse(outputs, mean_digit, real, generated):
    """A generator that collapsed to one image: the data's mean, 16 outputs, and the pixel spread of real
    and generated images on one colour scale.

    Args:
      outputs: ``(16, H, W, 1)`` generated images to show.
      mean_digit: ``(H, W, 1)`` the training data's mean image.
      real: ``(N, H, W, 1)`` real images.
      generated: ``(M, H, W, 1)`` generated images.

    Returns:
      A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(14, 3.0))
    gs = fig.add_gridspec(2, 14, width_ratios=[2, 0.25] + [1] * 8 + [0.35, 2, 2, 0.12], wspace=0.08, hspace=0.08)
    ax = fig.add_subplot(gs[:, 0])
    ax.imshow(mean_digit[..., 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title("mean training digit", fontsize=9)
    ax.set_axis_off()
    for i in range(16):
        a = fig.add_subplot(gs[i // 8, 2 + i % 8])
        a.imshow(outputs[i, ..., 0], cmap="gray", vmin=0, vmax=1)
        a.set_axis_off()
        if i == 2:
            a.set_title("outputs for 16 different noise inputs", fontsize=9, loc="left")
    vmax = float(real.std(0).max())
    for j, (name, imgs) in enumerate((("pixel std:\nreal test digits", real), ("pixel std:\ngenerated", generated))):
        a = fig.add_subplot(gs[:, 11 + j])
        im = a.imshow(imgs.std(0)[..., 0], cmap="magma", vmin=0, vmax=vmax)
        a.set_title(name, fontsize=9)
        a.set_axis_off()
    fig.colorbar(im, cax=fig.add_subplot(gs[:, 13]), label="std across images")
    fig.suptitle("Phase 1: noise unrelated to the target → the same blurry average digit for every input", y=1.04)
    return fig


def first_of_each_class(classes, num_classes: int, n: int) -> np.ndarray:
    """Indices of the first ``n`` items of each class 0..K-1, class by class: ``(K * n,)`` int.

    Raises:
      ValueError: a class has fewer than ``n`` items.
    """
    c = np.asarray(classes)
    picks = [np.flatnonzero(c == k)[:n] for k in range(num_classes)]
    short = [k for k, p in enumerate(picks) if len(p) < n]
    if short:
        raise ValueError(f"first_of_each_class: classes {short} have fewer than {n} items")
    return np.concatenate(picks)


def class_grid(images, classes, predicted, cols: int, title: str, *, num_classes: int = 10):
    """Generated digits in a grid, row i the first ``cols`` asked for class i; the judge's class in each
    corner (red if wrong).

    Args:
      images: ``(N, H, W, 1)`` images in [0, 1].
      classes: ``(N,)`` the class each image was asked for.
      predicted: ``(N,)`` the judge's classes.
      cols: images per row.
      title: the figure's title.
      num_classes: K, the rows.

    Returns:
      A matplotlib ``Figure`` with a ``(K, cols)`` grid of axes.
    """
    import matplotlib.pyplot as plt

    pick = first_of_each_class(classes, num_classes, cols)
    images = np.asarray(images)[pick, ..., 0].reshape(num_classes, cols, *np.shape(images)[1:3])
    predicted = np.asarray(predicted)[pick].reshape(num_classes, cols)
    rows = num_classes
    fig, axes = plt.subplots(rows, cols, figsize=(0.8 * cols + 1.0, 0.8 * rows + 0.8), squeeze=False)
    for i in range(rows):
        for j in range(cols):
            ax = axes[i, j]
            ax.imshow(images[i, j], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ok = predicted[i, j] == i
            ax.text(1, 5, str(predicted[i, j]), color="lime" if ok else "red", fontsize=7, fontweight="bold")
            if not ok:
                _mark_wrong(ax)
            if j == 0:
                ax.set_ylabel(str(i), rotation=0, ha="right", va="center", fontsize=10)
        axes[0, cols // 2].set_title("different noise draws →", fontsize=9)
    fig.supylabel("intended digit", fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def class_panels(panels, k: int, cols: int):
    """Panels side by side, each a ``(k, cols)`` grid of digits whose row i is the first ``cols`` of class i
    (red: the judge reads another class).

    Args:
      panels: ``(name, images, classes, predicted)``: ``(N, H, W, 1)`` images, the ``(N,)`` classes they
        belong to (or were asked for) and the ``(N,)`` classes the judge read.
      k: rows (classes).
      cols: images per row.

    Returns:
      A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(len(panels) * (0.55 * cols + 0.4) + 0.6, 0.55 * k + 1.2))
    outer = fig.add_gridspec(1, len(panels), wspace=0.08)
    for p, (name, imgs, classes, pred) in enumerate(panels):
        pick = first_of_each_class(classes, k, cols)
        imgs, pred = np.asarray(imgs)[pick], np.asarray(pred)[pick]
        inner = outer[0, p].subgridspec(k, cols, wspace=0.03, hspace=0.03)
        for i in range(k):
            for j in range(cols):
                ax = fig.add_subplot(inner[i, j])
                n = i * cols + j
                ax.imshow(np.asarray(imgs[n])[..., 0], cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if pred[n] != i:
                    _mark_wrong(ax)
                if i == 0 and j == cols // 2:
                    ax.set_title(name, fontsize=9)
                if j == 0 and p == 0:
                    ax.set_ylabel(str(i), rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("Class-conditional generation: rows are digits 0-9 (red: the judge reads another class)")
    return fig


def quality_diversity(sweep, phase2, real_share: float, *, goal: float = 0.95):
    """Share judged as intended against within-class diversity: a temperature sweep, one generator, real data.

    Args:
      sweep: ``(temperature, share, diversity ratio)`` triples of the latent Gaussians.
      phase2: ``(share, diversity ratio)`` of the noise-range generator.
      real_share: the judge's accuracy on real test digits (drawn at diversity 1).
      goal: the share drawn dashed.

    Returns:
      A matplotlib ``Figure`` with one axes.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _, shares, divs = zip(*sweep, strict=True)
    ax.plot(divs, shares, "o-", color="C1", label="latent Gaussians, temperature t")
    for t, a, d in sweep:
        ax.annotate(f"t={t:g}", (d, a), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.plot([phase2[1]], [phase2[0]], "s", color="C0", ms=8, label="noise range (phase 2)")
    ax.plot([1.0], [real_share], "*", color="0.3", ms=12, label="real test digits")
    ax.axhline(goal, color="k", ls="--", lw=1, label=f"goal {goal:g} (phase 2)")
    ax.set_xlabel("within-class diversity / real digits'")
    ax.set_ylabel("share judged as the intended digit")
    ax.set_xlim(-0.05, 1.1)
    ax.set_ylim(min(*shares, real_share, phase2[0]) - 0.05, 1.02)
    ax.set_title("Legibility against variety of class-conditional generators")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def per_class_bars(shares, diversity, real_diversity, *, goal: float = 0.95):
    """Per class: the share judged as intended (left) and the within-class diversity (right), by generator.

    Args:
      shares: ``{generator name: (K,) share judged as intended}``.
      diversity: ``{generator name: (K,) mean pairwise RMS distance}``, the same names.
      real_diversity: ``(K,)`` the same measure on real test digits (grey bars).
      goal: the share drawn dashed.

    Returns:
      A matplotlib ``Figure`` with two axes.
    """
    import matplotlib.pyplot as plt

    x = np.arange(len(real_diversity))
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8))
    w = 0.76 / len(shares)
    for i, (name, s) in enumerate(shares.items()):
        a.bar(x + (i - (len(shares) - 1) / 2) * w, s, w, label=name)
    a.axhline(goal, color="k", ls="--", lw=1, label=f"goal {goal:g}")
    a.set_xticks(x)
    a.set_xlabel("intended digit")
    a.set_ylabel("share judged as intended")
    a.set_ylim(0, 1.3)
    a.set_yticks(np.linspace(0, 1, 6))
    a.set_title("Judged as the intended digit")
    a.legend(fontsize=8, loc="upper center", ncol=3)
    bars = {"real test digits": real_diversity, **diversity}
    w = 0.81 / len(bars)
    for i, (name, d) in enumerate(bars.items()):
        b.bar(x + (i - (len(bars) - 1) / 2) * w, d, w, label=name, **({"color": "0.6"} if i == 0 else {}))
    b.set_xticks(x)
    b.set_xlabel("digit")
    b.set_ylabel("mean pairwise RMS pixel distance")
    b.set_ylim(0, 1.3 * float(np.nanmax(np.concatenate(list(bars.values())))))
    b.set_title("Diversity within each class")
    b.legend(fontsize=8, loc="upper center", ncol=3)
    fig.tight_layout()
    return fig
