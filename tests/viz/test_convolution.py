"""cnnlab.viz.convolution: outputs drawn over the input pixels they come from, template panels labelled."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab.teaching import conv2d_loops
from cnnlab.viz import convolution


@pytest.mark.parametrize(
    "padding, stride, out, expected",
    [
        # VALID, stride 1: output pixel 0 is centred on input pixel 1, pixel 25 on 26.
        ("VALID", 1, 26, (0.5, 26.5, 26.5, 0.5)),
        # SAME, stride 1: one pixel of padding on top, so centres coincide with the input's.
        ("SAME", 1, 28, (-0.5, 27.5, 27.5, -0.5)),
        # VALID, stride 2: centres 1, 3, ..., 25, each output pixel 2 input pixels wide.
        ("VALID", 2, 13, (0.0, 26.0, 26.0, 0.0)),
        # SAME, stride 2 on 28: (14 - 1) * 2 + 3 - 28 = 1 pixel of padding, at the bottom: centres 1, 3, ..., 27.
        ("SAME", 2, 14, (0.0, 28.0, 28.0, 0.0)),
    ],
)
def test_output_extent_centres_each_pixel_on_its_window(padding, stride, out, expected):
    assert convolution.output_extent(padding, stride, (out, out), 28, 3) == pytest.approx(expected)


def test_padding_and_stride_draws_each_output_at_its_extent():
    rng = np.random.default_rng(0)
    img = rng.random((10, 10))
    k = rng.normal(size=(3, 3, 1, 1))
    cases = [("VALID", 1), ("SAME", 2)]
    outs = {(p, s): conv2d_loops(img[None, :, :, None], k, padding=p, stride=s) for p, s in cases}
    fig = convolution.padding_and_stride(img, outs, kernel_size=3)
    axes = fig.axes
    assert len(axes) == 3
    np.testing.assert_array_equal(axes[0].images[0].get_array(), img)
    assert axes[0].get_title() == "input 10x10"
    for ax, (p, s) in zip(axes[1:], cases):
        y = outs[p, s][0, :, :, 0]
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), y)
        assert ax.images[0].get_extent() == pytest.approx(convolution.output_extent(p, s, y.shape, 10, 3))
        assert ax.get_title() == f"{p}, stride {s}: {y.shape[0]}x{y.shape[1]}"
        assert ax.get_xlabel() == "column (input pixels)"
    assert axes[0].get_ylabel() == "row (input pixels)"
    assert fig._suptitle.get_text().startswith("Padding and stride: one 3x3 kernel")
    plt.close(fig)


def test_template_matching_marks_the_cut_and_the_peaks():
    rng = np.random.default_rng(1)
    scene = rng.random((12, 30))
    patch = scene[2:7, 10:15]
    resp = conv2d_loops(scene[None, :, :, None], (patch - patch.mean())[:, :, None, None])[0, :, :, 0]
    raw = conv2d_loops(scene[None, :, :, None], patch[:, :, None, None])[0, :, :, 0]
    peak = np.unravel_index(np.argmax(resp), resp.shape)
    raw_peak = np.unravel_index(np.argmax(raw), raw.shape)
    fig = convolution.template_matching(scene, patch, (2, 10), resp, peak, raw, raw_peak)
    # The template, three panels and two colour bars.
    template, scene_ax, resp_ax, raw_ax = fig.axes[0], fig.axes[1], fig.axes[2], fig.axes[4]
    assert template.get_title() == "template (5x5)"
    np.testing.assert_allclose(np.asarray(resp_ax.images[0].get_array()), resp)
    np.testing.assert_allclose(np.asarray(raw_ax.images[0].get_array()), raw)
    assert resp_ax.get_title().endswith(f"peak at row {peak[0]}, column {peak[1]}")
    assert raw_ax.get_title().endswith(f"peak at row {raw_peak[0]}, column {raw_peak[1]}")
    green = [p for p in scene_ax.patches if p.get_edgecolor()[:3] == (0.0, 1.0, 0.0)]
    assert len(green) == 1 and green[0].get_xy() == (9.5, 1.5)
    for ax in (scene_ax, resp_ax, raw_ax):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("column", "row")
    assert fig._suptitle.get_text().startswith("Template matching")
    plt.close(fig)
