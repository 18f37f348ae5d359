"""Image figures: rows of images with labels, and single grids."""

from collections.abc import Sequence

import numpy as np

from cnnlab.data import to_float

__all__ = ["image_rows", "to_display"]


def to_display(images) -> np.ndarray:
    """``(N, H, W, C)`` or ``(N, H, W)`` images (floats in [0, 1] or uint8) as float ``(N, H, W[, 3])``.

    One channel becomes ``(N, H, W)`` for a grey colour map; three stay RGB.

    Raises:
      ValueError: not 3-D/4-D, or a channel count other than 1 or 3.
    """
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ValueError(f"to_display: images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3); got {a.shape}")
    if a.dtype == np.uint8:
        a = np.asarray(to_float(a))  # the scaling training uses (within an ulp of NumPy's a / 255)
    a = np.clip(a.astype(np.float32), 0.0, 1.0)
    return a[..., 0] if a.shape[-1] == 1 else a


def image_rows(
    rows: Sequence[tuple[str, object]],
    *,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    cell: float = 1.1,
    cmap: str = "gray",
):
    """A figure with one row of images per entry, the row's label on its left.

    Args:
      rows: ``(label, images)`` pairs; every ``images`` holds the same number ``n`` of
        ``(H, W[, C])`` images (sizes may differ between rows).
      titles: optional ``n`` strings written above the first row's images.
      title: the figure's title.
      cell: inches per image.
      cmap: colour map for one-channel images.

    Returns:
      A matplotlib ``Figure`` (pyplot-managed, so ``Run.figure`` can close it).

    Example:
      >>> import matplotlib.pyplot as plt
      >>> x = np.zeros((8, 28, 28, 1), np.uint8)  # e.g. test.images[:8]
      >>> y = np.ones((8, 28, 28, 1))  # e.g. a model's reconstructions, in [0, 1]
      >>> fig = image_rows([("original", x), ("reconstruction", y)])
      >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("image_rows: rows is empty")
    shown = [(label, to_display(imgs)) for label, imgs in rows]
    n = len(shown[0][1])
    if any(len(imgs) != n for _, imgs in shown):
        raise ValueError(f"image_rows: every row must hold the same number of images; got {[len(i) for _, i in shown]}")
    if titles is not None and len(titles) != n:
        raise ValueError(f"image_rows: titles must have {n} entries; got {len(titles)}")
    fig, axes = plt.subplots(
        len(shown), n, figsize=(cell * n + 1.2, cell * len(shown) + (0.5 if title else 0.1)), squeeze=False
    )
    for r, (label, imgs) in enumerate(shown):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(imgs[i], cmap=cmap if imgs.ndim == 3 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and titles is not None:
                ax.set_title(titles[i], fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
