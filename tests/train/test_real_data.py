"""Learning on real images: a small CNN on Fashion-MNIST for a few hundred steps.

Skipped where Debian's dataset-fashion-mnist is absent, unless CNNLAB_REQUIRE_REAL_DATA=1
(CI), where absence fails, as in tests/data/test_real_data.py.
"""

import os

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import data, ops, train

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
pytestmark = pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR) and os.environ.get("CNNLAB_REQUIRE_REAL_DATA") != "1",
    reason=f"{FASHION_DIR} absent: apt-get install dataset-fashion-mnist (CI installs it)",
)


class TinyConvNet(nnx.Module):
    """(N,28,28,1) -conv3 8, stride 2-> (N,13,13,8) -relu, max2-> (N,6,6,8) -> (N,288) -> (N,10)."""

    def __init__(self, *, rngs):
        self.conv = nnx.Conv(1, 8, (3, 3), strides=2, padding="VALID", rngs=rngs)
        self.dense = nnx.Linear(288, 10, rngs=rngs)

    def __call__(self, x):
        return self.dense(ops.flatten(ops.max_pool2d(ops.relu(self.conv(x)), window=2)))


def test_fashion_mnist_loss_falls_accuracy_rises(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path))
    ds = data.load("fashion_mnist")
    test = data.load("fashion_mnist", "test")
    train_x, train_y = ds.images[:6400], ds.labels[:6400]
    val = (test.images[:2000], test.labels[:2000])
    model = TinyConvNet(rngs=nnx.Rngs(0))
    before = train.evaluate(model, val, loss="softmax_cross_entropy")
    hist = train.fit(model, (train_x, train_y), loss="softmax_cross_entropy", optimizer="adam", epochs=3,
                     batch_size=64, val_data=val, verbose=False)  # 300 steps
    assert hist["loss"][0] > hist["loss"][1] > hist["loss"][2]
    assert hist["val_accuracy"][-1] > 0.72 > before["accuracy"] + 0.5
    # predict agrees with the validation accuracy the history reports
    hits = np.argmax(np.asarray(train.predict(model, val[0])), 1) == val[1]
    assert np.mean(hits) == pytest.approx(hist["val_accuracy"][-1], abs=1e-9)
    assert jnp.all(jnp.isfinite(model.dense.kernel[...]))
