"""cnnlab.viz.conv_lessons: each panel shows the array it was given, titled with its size; axes are labelled."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab.viz import conv_lessons


def test_panel_row_draws_each_array_with_its_size():
    rng = np.random.default_rng(0)
    grey, rgb = rng.random((5, 7)), rng.random((4, 6, 3))
    fig = conv_lessons.panel_row(
        [(grey, "a"), (rgb, "b"), (grey, "c", "viridis"), (grey, "d", "gray", (-1, 1))], title="T"
    )
    a, b, c, d = fig.axes
    assert d.images[0].get_clim() == (-1, 1) and a.images[0].get_clim() == (grey.min(), grey.max())
    np.testing.assert_array_equal(a.images[0].get_array(), grey)
    assert a.get_title() == "a\n5x7" and b.get_title() == "b\n4x6" and c.images[0].get_cmap().name == "viridis"
    assert a.get_ylabel() == "row (pixels)" and all(ax.get_xlabel() == "column (pixels)" for ax in fig.axes)
    assert fig._suptitle.get_text() == "T"
    plt.close(fig)
    with pytest.raises(ValueError, match="panels must hold at least one"):
        conv_lessons.panel_row([], title="T")


def test_signal_convolution_puts_each_output_at_its_window_centre():
    fig = conv_lessons.signal_convolution(np.arange(6.0), [1.0, 0.0, -1.0], [-2.0] * 4, [1.0] * 4, title="T")
    ax = fig.axes[2]
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, [1, 2, 3, 4])  # window i covers inputs i..i+2, centred on i+1
    np.testing.assert_array_equal(y, [-2.0] * 4)
    assert [a.get_title() for a in fig.axes] == ["Input", "Kernel", "Convolved"]
    assert len(ax.get_legend().get_texts()) == 2
    plt.close(fig)


def test_conv_then_pool_boxes_the_patch():
    digit = np.zeros((10, 10))
    fig = conv_lessons.conv_then_pool(digit, (2, 5, 3, 7), digit[2:5, 3:7], np.ones((8, 7)), np.ones((4, 3)), title="T")
    box = fig.axes[0].patches[0]
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (2.5, 1.5, 4, 3)
    assert [a.get_title().split("\n")[1] for a in fig.axes] == ["10x10", "3x4", "8x7", "4x3"]
    plt.close(fig)


def test_kernel_on_digits_titles_each_response_with_its_peak():
    digits, resp = np.zeros((3, 6, 6)), np.arange(3 * 4 * 4, dtype=float).reshape(3, 4, 4)
    fig = conv_lessons.kernel_on_digits(digits, resp, title="T")
    assert [ax.get_title() for ax in fig.axes[3:]] == ["peak 15.0", "peak 31.0", "peak 47.0"]
    plt.close(fig)
