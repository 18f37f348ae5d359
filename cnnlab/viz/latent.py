"""Latent-space figures: codes as a scatter with decoded points, the decoded grid, interpolation strips.

The arrays come from `cnnlab.latent` (``encode``, ``decode``, ``latent_grid``,
``interpolate_pixels``, ``interpolate_latent``); here they are only drawn.
"""

import string
from collections.abc import Sequence

import numpy as np

from cnnlab.viz.images import to_display

__all__ = ["interpolation_strips", "latent_manifold", "latent_scatter"]


def _codes(fn: str, z, labels) -> tuple[np.ndarray, np.ndarray]:
    z, labels = np.asarray(z), np.asarray(labels)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"{fn}: z must be 2-D codes (N, 2); got shape {z.shape}")
    if labels.shape != (z.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{fn}: labels must be integers of shape ({z.shape[0]},); got {labels.dtype} {labels.shape}")
    return z, labels


def _scatter(ax, z, labels, class_names, legend_title, *, size=14, alpha=0.75):
    """The codes coloured by class (tab10 by class index, so a class keeps its colour across figures)."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if labels.max(initial=0) < 10 else "tab20")
    for c in np.unique(labels):
        name = class_names[c] if class_names is not None else str(c)
        m = labels == c
        ax.scatter(z[m, 0], z[m, 1], s=size, color=cmap(c % cmap.N), alpha=alpha, lw=0, label=f"{name} ({m.sum()})")
    ax.set_xlabel("latent $z_1$")
    ax.set_ylabel("latent $z_2$")
    ax.grid(alpha=0.25)
    leg = ax.legend(title=legend_title, fontsize=8, title_fontsize=9, markerscale=1.6, framealpha=0.9, loc="best")
    for h in leg.legend_handles:
        h.set_alpha(1)


def latent_scatter(
    z,
    labels,
    *,
    class_names: Sequence[str] | None = None,
    points=None,
    point_images=None,
    legend_title: str = "class",
    title: str | None = None,
):
    """2-D codes as a scatter coloured by class; optional marked points with their decoded images beside it.

    Marked points are drawn as lettered stars (A, B, ...) on the scatter, and the image each
    one decodes to is shown in a panel to the right titled with its letter and coordinates.

    Args:
      z: ``(N, 2)`` codes.
      labels: integer ``(N,)`` classes of the codes.
      class_names: names indexed by class (``ds.class_names``); default the class numbers.
      points: ``(M, 2)`` latent points to mark, M <= 26.
      point_images: ``(M, H, W[, C])`` the images decoded from ``points`` (``cnnlab.latent.decode``).
      legend_title: the legend's title ("digit").
      title: the figure's title.

    Returns:
      A matplotlib ``Figure``.

    Example:
      >>> import matplotlib.pyplot as plt
      >>> z, labels = np.array([[0.0, 0.0], [1.0, 0.5], [-1.0, 2.0]]), np.array([0, 1, 1])  # encode(model, ...)
      >>> p = np.array([[0.5, 1.0]])
      >>> decoded = np.zeros((1, 28, 28, 1))  # e.g. decode(model, p)
      >>> fig = latent_scatter(z, labels, points=p, point_images=decoded)
      >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    z, labels = _codes("latent_scatter", z, labels)
    if (points is None) != (point_images is None):
        raise ValueError("latent_scatter: give points and point_images together")
    if points is None:
        fig, ax = plt.subplots(figsize=(6.4, 5.6), layout="constrained")
        _scatter(ax, z, labels, class_names, legend_title)
    else:
        points = np.asarray(points, np.float64)
        imgs = to_display(point_images)
        if points.ndim != 2 or points.shape[1] != 2 or not 1 <= len(points) <= 26:
            raise ValueError(f"latent_scatter: points must be (M, 2) with 1 <= M <= 26; got shape {points.shape}")
        if len(imgs) != len(points):
            raise ValueError(f"latent_scatter: point_images must hold {len(points)} images; got {len(imgs)}")
        m = len(points)
        cols = 2 if m > 3 else 1
        rows = -(-m // cols)
        fig = plt.figure(figsize=(6.4 + 1.6 * cols, max(5.6, 1.6 * rows)), layout="constrained")
        outer = fig.add_gridspec(1, 2, width_ratios=(6.4, 1.6 * cols))
        ax = fig.add_subplot(outer[0])
        _scatter(ax, z, labels, class_names, legend_title)
        ax.scatter(points[:, 0], points[:, 1], marker="*", s=260, c="white", edgecolors="black", lw=1.2, zorder=5)
        for k, (u, v) in enumerate(points):
            ax.annotate(
                string.ascii_uppercase[k], (u, v), xytext=(7, 7), textcoords="offset points",
                fontsize=11, fontweight="bold", zorder=6,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8),
            )  # fmt: skip
        inner = outer[1].subgridspec(rows, cols)
        for k in range(m):
            a = fig.add_subplot(inner[k // cols, k % cols])
            a.imshow(imgs[k], cmap="gray" if imgs.ndim == 3 else None, vmin=0, vmax=1, interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            u, v = points[k]
            a.set_title(f"{string.ascii_uppercase[k]}: ({u:.3g}, {v:.3g})", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def latent_manifold(
    images,
    coords,
    *,
    z=None,
    labels=None,
    class_names: Sequence[str] | None = None,
    legend_title: str = "class",
    title: str | None = None,
):
    """The decoded grid over a 2-D latent space as one mosaic on latent axes; optionally the codes beside it.

    Args:
      images: ``(n, n, H, W[, C])`` decoded images, top row the highest second coordinate
        (as `cnnlab.latent.latent_grid` returns them).
      coords: ``(n, n, 2)`` their codes.
      z: optional ``(N, 2)`` codes drawn in a scatter on the left, on the same axes, with the
        grid's points as grey crosses: where the data lives next to what each place decodes to.
      labels: integer ``(N,)`` classes of ``z``.
      class_names: names indexed by class.
      legend_title: the scatter legend's title.
      title: the figure's title.

    Returns:
      A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    grid, coords = np.asarray(images), np.asarray(coords, np.float64)
    if grid.ndim == 4:
        grid = grid[..., None]
    if grid.ndim != 5 or grid.shape[0] != grid.shape[1] or grid.shape[0] < 2:
        raise ValueError(f"latent_manifold: images must be (n, n, H, W[, C]) with n >= 2; got shape {np.shape(images)}")
    n, _, h, w, c = grid.shape
    if coords.shape != (n, n, 2):
        raise ValueError(f"latent_manifold: coords must be ({n}, {n}, 2) to match images; got {coords.shape}")
    tiles = to_display(grid.reshape(n * n, h, w, c)).reshape((n, n, h, w) + ((3,) if c == 3 else ()))
    mosaic = tiles.swapaxes(1, 2).reshape((n * h, n * w) + tiles.shape[4:])
    u, v = coords[0, :, 0], coords[:, 0, 1]  # v runs from the top (highest) down
    du, dv = (u[-1] - u[0]) / (n - 1), (v[0] - v[-1]) / (n - 1)
    extent = (u[0] - du / 2, u[-1] + du / 2, v[-1] - dv / 2, v[0] + dv / 2)
    panels = 1 if z is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 6.0), squeeze=False, layout="constrained")
    ax = axes[0, -1]
    ax.imshow(mosaic, cmap="gray" if mosaic.ndim == 2 else None, vmin=0, vmax=1, extent=extent, aspect="auto")
    ax.set_xlabel("latent $z_1$")
    ax.set_ylabel("latent $z_2$")
    ax.set_title(f"decoded {n}×{n} grid")
    if z is not None:
        z, labels = _codes("latent_manifold", z, labels)
        left = axes[0, 0]
        _scatter(left, z, labels, class_names, legend_title, size=10, alpha=0.6)
        left.scatter(coords[..., 0].ravel(), coords[..., 1].ravel(), marker="+", s=18, c="0.45", lw=0.8, zorder=0)
        left.set_xlim(extent[:2])
        left.set_ylim(extent[2:])
        left.set_title("codes of test images, grid points (+)")
    if title:
        fig.suptitle(title)
    return fig


def interpolation_strips(
    groups: Sequence[tuple[str, Sequence[tuple[str, object]]]], *, title: str | None = None, cell: float = 0.85
):
    """Interpolation strips, grouped: e.g. per pair of digits, a pixel-space row above latent-space rows.

    Args:
      groups: ``(group_title, rows)`` pairs; ``rows`` are ``(row_label, images)`` with every
        ``images`` a ``(S, H, W[, C])`` path of the same length ``S`` (from
        `cnnlab.latent.interpolate_pixels` / `interpolate_latent`).
      title: the figure's title.
      cell: inches per image.

    Returns:
      A matplotlib ``Figure``; the columns are headed by the interpolation fraction ``t``.
    """
    import matplotlib.pyplot as plt

    if not groups or any(not rows for _, rows in groups):
        raise ValueError("interpolation_strips: groups must be non-empty, each with at least one row")
    shown = [(g, [(label, to_display(imgs)) for label, imgs in rows]) for g, rows in groups]
    lengths = {len(imgs) for _, rows in shown for _, imgs in rows}
    if len(lengths) != 1 or min(lengths) < 2:
        raise ValueError(f"interpolation_strips: every row must hold the same number (>= 2) of images; got {lengths}")
    s = lengths.pop()
    n_rows = sum(len(rows) for _, rows in shown)
    fig = plt.figure(figsize=(cell * s + 2.2, cell * n_rows + 0.45 * len(shown) + 0.6), layout="constrained")
    subs = fig.subfigures(len(shown), 1, height_ratios=[len(rows) * cell + 0.45 for _, rows in shown])
    for gi, (sub, (group_title, rows)) in enumerate(zip(np.atleast_1d(subs), shown)):
        sub.suptitle(group_title, fontsize=10, fontweight="bold", x=0.02, ha="left")
        axes = sub.subplots(len(rows), s, squeeze=False, gridspec_kw=dict(wspace=0.04, hspace=0.06))
        for r, (label, imgs) in enumerate(rows):
            for i in range(s):
                ax = axes[r, i]
                ax.imshow(imgs[i], cmap="gray" if imgs.ndim == 3 else None, vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if gi == 0 and r == 0:
                    ax.set_title(f"t={i / (s - 1):.2g}", fontsize=8)
            axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return fig
