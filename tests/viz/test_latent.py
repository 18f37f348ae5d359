"""Latent-space figures: what they draw is checked against the arrays given, then saved and looked at."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab.viz.latent import interpolation_strips, latent_manifold, latent_scatter
from tests.experiments._checks import check_png


def _codes(n=120, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.array([1, 5, 6], np.int32), size=n)
    z = rng.normal(size=(n, 2)) + 4.0 * labels[:, None] * np.array([1.0, -0.5])
    return z, labels


def _digits(n, seed=1):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)


def test_latent_scatter_marks_points_with_their_images(tmp_path):
    z, labels = _codes()
    points = np.array([[-8.0, 0.0], [2.5, 1.25], [10.0, -3.0], [0.0, 5.0]])
    images = _digits(4)
    names = [str(d) for d in range(10)]
    fig = latent_scatter(
        z, labels, class_names=names, points=points, point_images=images, legend_title="digit", title="codes"
    )
    scatter_ax, *image_axes = fig.axes
    # One collection per class, then the stars, which sit exactly at the points.
    offsets = [c.get_offsets() for c in scatter_ax.collections]
    assert len(offsets) == 4
    for c, off in zip((1, 5, 6), offsets):
        np.testing.assert_allclose(off, z[labels == c])
    np.testing.assert_allclose(offsets[-1], points)
    legend = [t.get_text() for t in scatter_ax.get_legend().get_texts()]
    assert legend == [f"{c} ({(labels == c).sum()})" for c in (1, 5, 6)]
    assert [t.get_text() for t in scatter_ax.texts] == ["A", "B", "C", "D"]
    assert [a.get_title() for a in image_axes] == ["A: (-8, 0)", "B: (2.5, 1.25)", "C: (10, -3)", "D: (0, 5)"]
    for a, img in zip(image_axes, images):
        np.testing.assert_allclose(a.images[0].get_array(), img[..., 0] / 255.0, atol=1e-6)
    fig.savefig(tmp_path / "scatter.png", dpi=60)
    plt.close(fig)
    check_png(tmp_path / "scatter.png")


def test_latent_scatter_without_points_and_errors():
    z, labels = _codes()
    fig = latent_scatter(z, labels)
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "latent $z_1$"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"latent_scatter: z must be 2-D codes \(N, 2\); got shape \(120, 3\)"):
        latent_scatter(np.zeros((120, 3)), labels)
    with pytest.raises(ValueError, match=r"latent_scatter: labels must be integers of shape \(120,\)"):
        latent_scatter(z, labels[:5])
    with pytest.raises(ValueError, match="give points and point_images together"):
        latent_scatter(z, labels, points=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="point_images must hold 2 images; got 3"):
        latent_scatter(z, labels, points=np.zeros((2, 2)), point_images=_digits(3))


def test_latent_manifold_mosaic_on_latent_axes(tmp_path):
    n = 3
    rng = np.random.default_rng(2)
    grid = rng.random((n, n, 28, 28, 1)).astype(np.float32)
    u, v = np.linspace(-4, 4, n), np.linspace(-2, 6, n)[::-1]
    coords = np.stack(np.meshgrid(u, v), -1)
    z, labels = _codes()
    fig = latent_manifold(grid, coords, z=z, labels=labels, title="grid")
    left, right = fig.axes[:2]
    mosaic = right.images[0].get_array()
    assert mosaic.shape == (n * 28, n * 28)
    for i in range(n):
        for j in range(n):  # tile (i, j) of the mosaic is images[i, j]: top row the highest z2
            np.testing.assert_allclose(mosaic[28 * i : 28 * (i + 1), 28 * j : 28 * (j + 1)], grid[i, j, ..., 0])
    # Each tile is centred on its code: half a grid step of margin around the extreme codes.
    np.testing.assert_allclose(right.images[0].get_extent(), [-6, 6, -4, 8])
    np.testing.assert_allclose(left.get_xlim(), (-6, 6))
    np.testing.assert_allclose(left.get_ylim(), (-4, 8))
    fig.savefig(tmp_path / "manifold.png", dpi=60)
    plt.close(fig)
    check_png(tmp_path / "manifold.png")
    with pytest.raises(ValueError, match=r"latent_manifold: coords must be \(3, 3, 2\) to match images"):
        latent_manifold(grid, coords[:2])
    with pytest.raises(ValueError, match=r"latent_manifold: images must be \(n, n, H, W\[, C\]\)"):
        latent_manifold(grid[:2], coords)


def test_interpolation_strips_layout(tmp_path):
    steps = 5
    groups = [
        ("1 → 7", [("pixel space", _digits(steps, 3)), ("latent space", _digits(steps, 4))]),
        (
            "3 → 8",
            [("pixel space", _digits(steps, 5)), ("latent, MSE", _digits(steps, 6)), ("latent, MAE", _digits(steps))],
        ),
    ]
    fig = interpolation_strips(groups, title="strips")
    axes = fig.axes
    assert len(axes) == 5 * steps
    assert [a.get_title() for a in axes[:steps]] == ["t=0", "t=0.25", "t=0.5", "t=0.75", "t=1"]
    labels = [a.get_ylabel() for a in axes[::steps]]
    assert labels == ["pixel space", "latent space", "pixel space", "latent, MSE", "latent, MAE"]
    np.testing.assert_allclose(axes[steps + 2].images[0].get_array(), groups[0][1][1][1][2, ..., 0] / 255.0, atol=1e-6)
    assert [sf._suptitle.get_text() for sf in fig.subfigs] == ["1 → 7", "3 → 8"]
    fig.savefig(tmp_path / "strips.png", dpi=60)
    plt.close(fig)
    check_png(tmp_path / "strips.png")
    with pytest.raises(ValueError, match=r"every row must hold the same number \(>= 2\) of images; got \{3, 5\}"):
        interpolation_strips([("a", [("x", _digits(5)), ("y", _digits(3))])])
    with pytest.raises(ValueError, match="groups must be non-empty"):
        interpolation_strips([])
