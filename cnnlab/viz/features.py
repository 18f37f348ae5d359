"""Filters and feature maps: what a convolution's kernels look like and what they make of images.

`kernel_grid` draws an HWIO kernel stack, one column per output channel and one row per
input channel, on a diverging colour map centred at zero (positive weights red, negative
blue), optionally with the weights written in. `feature_maps` draws a few input images,
one per row, each followed by the maps a layer produced from it.
"""

from collections.abc import Sequence

import numpy as np

from cnnlab.viz.images import to_display

__all__ = ["feature_maps", "kernel_grid"]

_SCALES = ("each", "shared")


def _check_scale(fn: str, scale: str) -> None:
    if scale not in _SCALES:
        raise ValueError(f"{fn}: scale must be one of {_SCALES}; got {scale!r}")


def _check_titles(fn: str, name: str, titles, n: int) -> None:
    if titles is not None and len(titles) != n:
        raise ValueError(f"{fn}: {name} must have {n} entries; got {len(titles)}")


def _short(v: float) -> str:
    """A weight in at most 4 characters where possible: ``2``, ``-1``, ``.25``, ``.037``, ``-.11``."""
    if float(v).is_integer():
        return str(int(v))
    text = f"{v:.2g}"
    return text.replace("0.", ".", 1) if "e" not in text else text


def kernel_grid(
    kernels,
    *,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    annotate: bool | None = None,
    scale: str = "each",
    cmap: str = "RdBu_r",
    cell: float = 1.1,
    columns: int | None = None,
):
    """Convolution kernels as a grid of heat maps: column ``o`` is output channel ``o``, row ``c`` input channel ``c``.

    Colours are centred at zero: with ``scale="each"`` every output channel's kernel spans
    its own ``[-m, m]`` (``m`` its largest magnitude), which shows the shape of small and
    large kernels alike; with ``"shared"`` all share one range and one colour bar, which
    compares their strengths.

    Args:
      kernels: ``(KH, KW, C_in, C_out)`` (HWIO, as `cnnlab.ops.conv2d` takes them) or one
        ``(KH, KW)`` kernel.
      titles: ``C_out`` column titles (e.g. the kernels' names).
      title: the figure's title.
      annotate: write each weight in its cell; default: when kernels are at most 3x3 and
        there are at most 16 of them (larger ones get too crowded to read).
      scale: ``"each"`` or ``"shared"`` (see above).
      cmap: a diverging matplotlib colour map.
      cell: inches per kernel.
      columns: for one input channel only: wrap the ``C_out`` kernels into rows of this
        many (a first layer's 32 filters as 4 rows of 8). Default: one row.

    Returns:
      A matplotlib ``Figure``.

    Raises:
      ValueError: ``kernels`` is not 2-D or 4-D, is empty or not finite; ``titles`` has the
        wrong length; an unknown ``scale``; ``columns`` below 1 or given with ``C_in > 1``.

    Example:
      >>> import matplotlib.pyplot as plt
      >>> sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
      >>> fig = kernel_grid(np.stack([sobel, sobel.T], -1)[:, :, None], titles=["x", "y"])
      >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    k = np.asarray(kernels, dtype=np.float64)
    if k.ndim == 2:
        k = k[:, :, None, None]
    if k.ndim != 4 or 0 in k.shape:
        raise ValueError(f"kernel_grid: kernels must be (KH, KW, C_in, C_out) or (KH, KW); got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel_grid: kernels hold NaN or infinite values")
    _check_scale("kernel_grid", scale)
    kh, kw, c_in, c_out = k.shape
    _check_titles("kernel_grid", "titles", titles, c_out)
    if columns is not None:
        if not isinstance(columns, int) or columns < 1:
            raise ValueError(f"kernel_grid: columns must be an int >= 1; got {columns!r}")
        if c_in > 1:
            raise ValueError(f"kernel_grid: columns wraps one input channel's kernels; these have C_in={c_in}")
    if annotate is None:
        annotate = kh <= 3 and kw <= 3 and c_in * c_out <= 16
    peak = np.abs(k).max(axis=(0, 1, 2))  # per output channel
    if scale == "shared":
        peak = np.full_like(peak, np.abs(k).max())
    peak = np.where(peak > 0, peak, 1.0)
    # Cell (row, col) of input channel c, output o: (c, o) unwrapped; (o // columns, o % columns) wrapped.
    ncols = c_out if columns is None else min(columns, c_out)
    nrows = c_in if columns is None else -(-c_out // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell * ncols + 1.3, cell * nrows + (0.6 if title else 0.2)), squeeze=False
    )
    for ax in axes.ravel()[c_in * c_out :]:
        ax.set_visible(False)
    im = None
    for c in range(c_in):
        for o in range(c_out):
            ax = axes[c, o] if columns is None else axes[o // ncols, o % ncols]
            w = k[:, :, c, o]
            im = ax.imshow(w, cmap=cmap, vmin=-peak[o], vmax=peak[o], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if annotate:
                for i in range(kh):
                    for j in range(kw):
                        text = _short(w[i, j])
                        dark = abs(w[i, j]) > 0.6 * peak[o]
                        ax.text(j, i, text, ha="center", va="center", fontsize=7 if len(text) <= 3 else 5.5,
                                color="white" if dark else "black")  # fmt: skip
            if c == 0 and titles is not None:
                ax.set_title(titles[o], fontsize=8)
            elif columns is not None:
                ax.set_title(str(o), fontsize=7)
        if c_in > 1:
            axes[c, 0].set_ylabel(f"input ch. {c}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if scale == "shared" and im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="weight")
    return fig


def feature_maps(
    images,
    maps,
    *,
    map_titles: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    scale: str = "each",
    cmap: str = "viridis",
    cell: float = 1.1,
):
    """Input images, one per row, each followed by the feature maps a layer computed from it.

    Args:
      images: ``(N, H, W, C)`` inputs with C = 1 or 3 (floats in [0, 1] or uint8), or ``(N, H, W)``.
      maps: ``(N, H', W', K)`` the layer's outputs for those inputs (any real values; sizes
        may differ from the inputs', e.g. after VALID padding or a stride).
      map_titles: ``K`` column titles (e.g. the filters' names).
      row_labels: ``N`` labels written left of each row (e.g. the true classes).
      title: the figure's title.
      scale: ``"each"``: each map spans its own colour range (shows the pattern of weak
        maps too); ``"shared"``: one range over all maps, with a colour bar (compares strengths).
      cmap: colour map for the feature maps.
      cell: inches per image.

    Returns:
      A matplotlib ``Figure``.

    Raises:
      ValueError: ``maps`` is not 4-D or not finite, its N differs from the images'; titles
        or labels of the wrong length; an unknown ``scale``.

    Example:
      >>> import matplotlib.pyplot as plt
      >>> from cnnlab.ops import conv2d
      >>> sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
      >>> kernels = np.stack([sobel, sobel.T], -1)[:, :, None]  # (3, 3, 1, 2)
      >>> x = np.random.default_rng(0).random((4, 28, 28, 1), np.float32)  # e.g. test.images[:4] / 255
      >>> y = conv2d(x, kernels, padding="SAME")
      >>> y.shape
      (4, 28, 28, 2)
      >>> fig = feature_maps(x, y, map_titles=["edge x", "edge y"])
      >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    shown = to_display(images)
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 4 or 0 in m.shape:
        raise ValueError(f"feature_maps: maps must be (N, H', W', K); got shape {m.shape}")
    if len(shown) != m.shape[0]:
        raise ValueError(f"feature_maps: images hold {len(shown)} images but maps {m.shape[0]}; they must match")
    if not np.all(np.isfinite(m)):
        raise ValueError("feature_maps: maps hold NaN or infinite values")
    _check_scale("feature_maps", scale)
    n, _, _, k = m.shape
    _check_titles("feature_maps", "map_titles", map_titles, k)
    _check_titles("feature_maps", "row_labels", row_labels, n)
    fig, axes = plt.subplots(
        n, k + 1, figsize=(cell * (k + 1) + 1.3, cell * n + (0.6 if title else 0.25)), squeeze=False
    )
    lo, hi = m.min(), m.max()
    im = None
    for r in range(n):
        ax = axes[r, 0]
        ax.imshow(shown[r], cmap="gray" if shown.ndim == 3 else None, vmin=0, vmax=1, interpolation="nearest")
        if r == 0:
            ax.set_title("input", fontsize=8)
        if row_labels is not None:
            ax.set_ylabel(row_labels[r], fontsize=9, rotation=0, ha="right", va="center")
        for j in range(k):
            ax = axes[r, j + 1]
            a = m[r, :, :, j]
            vmin, vmax = (lo, hi) if scale == "shared" else (a.min(), a.max())
            if vmax <= vmin:  # a constant map: show it mid-range rather than dividing by zero
                vmin, vmax = vmin - 1.0, vmax + 1.0
            im = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if r == 0 and map_titles is not None:
                ax.set_title(map_titles[j], fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if scale == "shared" and im is not None:
        fig.colorbar(im, ax=axes[:, 1:].ravel().tolist(), shrink=0.8, label="activation")
    return fig
