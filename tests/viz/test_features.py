"""`cnnlab.viz.features`: what the figures draw is the data given, laid out and scaled as documented."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab.viz.features import feature_maps, kernel_grid


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _visible(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.images]


def test_kernel_grid_draws_each_slice_centred_at_zero():
    rng = np.random.default_rng(0)
    k = rng.normal(size=(3, 3, 2, 4))
    fig = kernel_grid(k, titles=list("abcd"), title="kernels")
    axes = _visible(fig)
    assert len(axes) == 2 * 4
    for idx, ax in enumerate(axes):  # row-major: input channel c, output o
        c, o = divmod(idx, 4)
        np.testing.assert_array_equal(ax.images[0].get_array(), k[:, :, c, o])
        m = np.abs(k[:, :, :, o]).max()  # "each": one symmetric range per output channel
        assert ax.images[0].get_clim() == pytest.approx((-m, m))
    assert [ax.get_title() for ax in axes[:4]] == list("abcd")
    assert fig._suptitle.get_text() == "kernels"


def test_kernel_grid_shared_scale_and_annotations():
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    k = np.stack([sobel, sobel.T / 8], axis=-1)[:, :, None, :]  # (3, 3, 1, 2)
    fig = kernel_grid(k, scale="shared")
    axes = _visible(fig)
    assert all(ax.images[0].get_clim() == (-2.0, 2.0) for ax in axes)
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    # Small kernels get their weights written in: 9 per kernel, as short strings.
    texts = [t.get_text() for t in axes[0].texts]
    assert texts == ["-1", "0", "1", "-2", "0", "2", "-1", "0", "1"]
    assert [t.get_text() for t in axes[1].texts][:3] == ["-.12", "-.25", "-.12"]


def test_kernel_grid_accepts_one_2d_kernel_and_wraps_columns():
    fig = kernel_grid(np.eye(3))
    assert len(_visible(fig)) == 1
    k = np.arange(5 * 5 * 1 * 10, dtype=float).reshape(5, 5, 1, 10) - 100
    fig = kernel_grid(k, columns=4)
    axes = _visible(fig)
    assert len(axes) == 10  # 3 rows of 4 with the last two cells hidden
    assert sum(1 for ax in fig.axes if not ax.get_visible()) == 2
    for o, ax in enumerate(axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), k[:, :, 0, o])
        assert ax.get_title() == str(o)
        assert not ax.texts  # 5x5 kernels are too crowded to write in by default


@pytest.mark.parametrize(
    "kernels, kwargs, match",
    [
        (np.ones((3, 3, 1)), {}, r"\(KH, KW, C_in, C_out\)"),
        (np.ones((3, 3, 1, 0)), {}, "got shape"),
        (np.full((3, 3, 1, 1), np.nan), {}, "NaN"),
        (np.ones((3, 3, 1, 2)), {"titles": ["a"]}, "titles must have 2 entries; got 1"),
        (np.ones((3, 3, 1, 2)), {"scale": "global"}, "scale must be one of"),
        (np.ones((3, 3, 2, 2)), {"columns": 2}, "C_in=2"),
        (np.ones((3, 3, 1, 2)), {"columns": 0}, "columns must be"),
    ],
)
def test_kernel_grid_rejects_bad_input(kernels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kernel_grid(kernels, **kwargs)


def test_feature_maps_rows_are_inputs_then_their_maps():
    rng = np.random.default_rng(1)
    images = rng.random((3, 8, 8, 1)).astype(np.float32)
    maps = rng.normal(size=(3, 6, 6, 2))
    fig = feature_maps(images, maps, map_titles=["p", "q"], row_labels=["a", "b", "c"], title="maps")
    axes = _visible(fig)
    assert len(axes) == 3 * 3
    for r in range(3):
        np.testing.assert_allclose(axes[3 * r].images[0].get_array(), images[r, :, :, 0])
        assert axes[3 * r].get_ylabel() == "abc"[r]
        for j in range(2):
            img = axes[3 * r + 1 + j].images[0]
            np.testing.assert_array_equal(img.get_array(), maps[r, :, :, j])
            assert img.get_clim() == pytest.approx((maps[r, :, :, j].min(), maps[r, :, :, j].max()))
    assert [ax.get_title() for ax in axes[:3]] == ["input", "p", "q"]


def test_feature_maps_shared_scale_rgb_and_constant_maps():
    images = np.zeros((2, 5, 5, 3), np.uint8)
    images[0, 0, 0] = (255, 0, 0)
    maps = np.zeros((2, 5, 5, 1))
    maps[1, 2, 2, 0] = 4.0
    fig = feature_maps(images, maps, scale="shared")
    axes = _visible(fig)
    np.testing.assert_allclose(axes[0].images[0].get_array()[0, 0], (1.0, 0.0, 0.0))  # uint8 RGB scaled to [0, 1]
    assert axes[1].images[0].get_clim() == (0.0, 4.0) == axes[3].images[0].get_clim()
    fig = feature_maps(images, maps)  # "each": map 0 is constant, drawn with a widened range
    assert _visible(fig)[1].images[0].get_clim() == (-1.0, 1.0)


@pytest.mark.parametrize(
    "images, maps, kwargs, match",
    [
        (np.zeros((2, 5, 5, 1)), np.zeros((2, 5, 5)), {}, r"\(N, H', W', K\)"),
        (np.zeros((2, 5, 5, 1)), np.zeros((3, 5, 5, 1)), {}, "2 images but maps 3"),
        (np.zeros((2, 5, 5, 2)), np.zeros((2, 5, 5, 1)), {}, "to_display"),
        (np.zeros((1, 5, 5, 1)), np.full((1, 5, 5, 1), np.inf), {}, "NaN or infinite"),
        (np.zeros((1, 5, 5, 1)), np.zeros((1, 5, 5, 2)), {"map_titles": ["a"]}, "map_titles must have 2"),
        (np.zeros((1, 5, 5, 1)), np.zeros((1, 5, 5, 2)), {"row_labels": []}, "row_labels must have 1"),
        (np.zeros((1, 5, 5, 1)), np.zeros((1, 5, 5, 2)), {"scale": "row"}, "scale must be one of"),
    ],
)
def test_feature_maps_rejects_bad_input(images, maps, kwargs, match):
    with pytest.raises(ValueError, match=match):
        feature_maps(images, maps, **kwargs)
