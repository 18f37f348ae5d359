"""cnnlab.viz.agreement: each row shows the images given; the predicted classes and probabilities are written."""

import matplotlib.pyplot as plt
import numpy as np

from cnnlab.viz import agreement


def test_reconstructions_rows():
    rng = np.random.default_rng(0)
    x, a, b = (rng.random((4, 6, 6, 1)) for _ in range(3))
    fig = agreement.reconstructions(x, a, b, names=("Keras", "cnnlab"), n=4)
    axes = np.asarray(fig.axes).reshape(3, 4)
    for r, imgs in enumerate((x, a, b)):
        for i in range(4):
            np.testing.assert_array_equal(axes[r, i].images[0].get_array(), imgs[i, :, :, 0])
    assert [axes[r, 0].get_ylabel() for r in range(3)] == ["original", "Keras", "cnnlab"]
    assert fig._suptitle.get_text() == "Reconstructions: Keras and cnnlab with the same weights"
    plt.close(fig)


def test_predictions_write_the_top_class_and_its_probability():
    x = np.zeros((3, 5, 5, 1))
    p_ref = np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]])
    p_ours = np.array([[0.2, 0.8], [0.6, 0.4], [0.4, 0.6]])
    fig = agreement.predictions(x, [1, 0, 1], [("pair", p_ref, p_ours)], n=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["1 0.9000\n1 0.8000", "0 0.7000\n0 0.6000", "0 0.5000\n1 0.6000"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["label 1", "label 0", "label 1"]
    assert fig.axes[0].get_ylabel() == "pair"
    assert fig._suptitle.get_text().startswith("Predicted class and probability")
    plt.close(fig)
