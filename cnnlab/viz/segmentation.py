"""Segmentation figures: class masks as colour overlays on their images, and IoU per class.

A class map is an integer ``(H, W)`` array; a palette is a ``(K, 3)`` array of RGB colours in [0, 1],
one per class. One class (``plain``, the background) is drawn uncoloured and dimmed, so the objects stand out.
"""

import numpy as np

__all__ = ["digit_palette", "iou_bars", "mask_overlay", "pet_palette", "segmentation_overlays"]


def digit_palette() -> np.ndarray:
    """11 RGB colours for digit canvases: index 0 (background) unused (black), then one per digit 0-9.

    matplotlib's tab10 with its grey (index 7) replaced by yellow, so no digit looks like the
    dimmed grey the overlays use for background.

    Returns:
      float ``(11, 3)`` in [0, 1].
    """
    import matplotlib

    colours = matplotlib.colormaps["tab10"](np.arange(10))[:, :3]
    colours[7] = (1.0, 0.9, 0.1)
    return np.vstack([[0.0, 0.0, 0.0], colours])


def pet_palette() -> np.ndarray:
    """RGB colours of the Oxford-IIIT Pet classes: pet orange, background grey (drawn dimmed), border cyan.

    Returns:
      float ``(3, 3)`` in [0, 1].
    """
    return np.array([[1.0, 0.5, 0.05], [0.5, 0.5, 0.5], [0.1, 0.85, 0.95]])


def mask_overlay(image, mask, alpha: float = 0.65, *, palette=None, plain: int = 0) -> np.ndarray:
    """A class map painted over its image: class colours blended in, class ``plain`` left uncoloured and dimmed.

    Args:
      image: uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB.
      mask: integer ``(H, W)`` classes, indices into ``palette``.
      alpha: weight of the class colour against the image.
      palette: ``(K, 3)`` RGB in [0, 1]; default `digit_palette`.
      plain: the class drawn without colour, at 0.6 of its brightness.

    Returns:
      float ``(H, W, 3)`` RGB in [0, 1].
    """
    img = np.asarray(image).astype(np.float64) / 255.0
    base = img if img.ndim == 3 else np.repeat(img[..., None], 3, -1)
    col = (digit_palette() if palette is None else palette)[mask]
    fg = (mask != plain)[..., None]
    return np.where(fg, (1 - alpha) * base + alpha * col, base * 0.6)


def segmentation_overlays(
    images,
    true,
    pred,
    names,
    *,
    palette=None,
    plain: int = 0,
    what: str = "canvas",
    title: str = "Held-out canvases, true and predicted per-pixel classes",
):
    """Images, true and predicted masks in three rows (the masks as `mask_overlay`), with a class key.

    Args:
      images: uint8 ``(n, H, W)`` grey or ``(n, H, W, 3)`` RGB.
      true: integer ``(n, H, W)`` true classes.
      pred: integer ``(n, H, W)`` predicted classes; each column is labelled with its share of right pixels.
      names: one name per class, for the key.
      palette: ``(K, 3)`` RGB in [0, 1]; default `digit_palette`.
      plain: the class drawn dimmed and uncoloured.
      what: the first row's label.
      title: the figure's title.

    Returns:
      A matplotlib ``Figure`` with a ``(3, n)`` grid of axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    pal = digit_palette() if palette is None else palette
    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n + 1.8, 5.3), squeeze=False)
    for i in range(n):
        image = images[i] / 255.0
        rows = (
            image if image.ndim == 3 else np.repeat(image[..., None], 3, -1),
            mask_overlay(images[i], true[i], palette=pal, plain=plain),
            mask_overlay(images[i], pred[i], palette=pal, plain=plain),
        )
        for row, img in enumerate(rows):
            axes[row, i].imshow(img, interpolation="nearest")
            axes[row, i].set_xticks([])
            axes[row, i].set_yticks([])
        axes[2, i].set_xlabel(f"{float((true[i] == pred[i]).mean()):.1%} of pixels right", fontsize=7)
    for row, label in enumerate((what, "true mask", "predicted")):
        axes[row, 0].set_ylabel(label, fontsize=9)
    handles = [Patch(facecolor=pal[c], label=names[c]) for c in range(len(names)) if c != plain]
    handles.insert(0, Patch(facecolor="0.35", label=f"{names[plain]} (dimmed)"))
    fig.legend(handles=handles, loc="center right", fontsize=8, title="class", frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1 - 1.5 / (1.6 * n + 1.8), 1))
    return fig


def iou_bars(iou, names, confusion, *, palette=None, plain: int = 0, what: str = "canvases"):
    """Bars of IoU per class (class ``plain`` grey), each labelled with its share of the true pixels,
    and the mean IoU over the classes present as a dashed line.

    Args:
      iou: ``(K,)`` IoU per class (NaN drawn as 0), as from `cnnlab.metrics.iou_per_class`.
      names: K class names, the x tick labels.
      confusion: ``(K, K)`` counts, rows true: the shares come from its row sums.
      palette: ``(K, 3)`` RGB in [0, 1]; default `digit_palette`.
      plain: the class drawn grey.
      what: what was held out, for the y label ("IoU (held-out canvases)").

    Returns:
      A matplotlib ``Figure`` with one axes.
    """
    import matplotlib.pyplot as plt

    conf = np.asarray(confusion)
    share = conf.sum(1) / conf.sum()
    pal = (digit_palette() if palette is None else palette).copy()
    pal[plain] = 0.5
    fig, ax = plt.subplots(figsize=(9, 3.8) if len(iou) > 4 else (5.5, 3.8))
    x = np.arange(len(iou))
    bars = ax.bar(x, np.nan_to_num(iou), color=pal)
    for b, s in zip(bars, share, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.01, f"{s:.1%}", ha="center", fontsize=7)
    ax.axhline(np.nanmean(iou), color="k", ls="--", lw=1, label=f"mean IoU {np.nanmean(iou):.3f}")
    ax.set_xticks(x, names, rotation=30 if len(iou) > 4 else 0, fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(f"IoU (held-out {what})")
    ax.set_title("Intersection over union per class (label: share of pixels)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
