"""`save_npz` / `load_npz`: a leaf-by-leaf round trip, and errors that name the key and the shapes."""

import numpy as np
import pytest
from flax import nnx

from cnnlab import models
from cnnlab.interop import load_npz, save_npz
from tests.nn.keras_oracle import randomize


def _leaves(model):
    return {p: np.asarray(v[...]) for p, v in nnx.iter_graph(model) if isinstance(v, nnx.Param | nnx.BatchStat)}


def test_round_trip_restores_every_parameter_and_statistic(tmp_path):
    model = randomize(models.CifarCNN(True, rngs=nnx.Rngs(0)), scale=None)
    save_npz(model, tmp_path / "w.npz")
    fresh = models.CifarCNN(True, rngs=nnx.Rngs(1))
    load_npz(fresh, tmp_path / "w.npz")
    a, b = _leaves(model), _leaves(fresh)
    assert a.keys() == b.keys() and len(a) == 4 * 5 + 2 * 5 + 2  # 5 BN blocks, last Dense
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=str(k))


def test_keys_are_nnx_paths_through_conv2d_max_pool(tmp_path):
    """MnistCNN's conv/pool pairs are `Conv2DMaxPool` layers: their weights sit under `conv`."""
    model = randomize(models.MnistCNN(rngs=nnx.Rngs(0)), scale=None)
    save_npz(model, tmp_path / "mnist.npz")
    with np.load(tmp_path / "mnist.npz") as f:
        assert sorted(f.files) == [
            f"layers/layers/{i}/{part}{name}"
            for i, part in [(1, "conv/"), (2, "conv/"), (4, "")]  # layers/0: the seed's Reshape
            for name in ("bias", "kernel")
        ]
        np.testing.assert_array_equal(f["layers/layers/2/conv/kernel"], model.layers[2].conv.kernel[...])
    fresh = models.MnistCNN(rngs=nnx.Rngs(1))
    load_npz(fresh, tmp_path / "mnist.npz")
    for k, v in _leaves(model).items():
        np.testing.assert_array_equal(v, _leaves(fresh)[k], err_msg=str(k))


def test_mismatched_files_are_refused(tmp_path):
    save_npz(models.MnistCNN(rngs=nnx.Rngs(0)), tmp_path / "mnist.npz")
    with pytest.raises(
        ValueError,
        match=r"load_npz: .* does not fit the model: missing \['layers/layers/0/bias', .*\], "
        r"unexpected \['layers/layers/1/conv/bias', ",
    ):
        load_npz(models.LeNet5(rngs=nnx.Rngs(0)), tmp_path / "mnist.npz")
    wide = models.MnistCNN(num_classes=12, rngs=nnx.Rngs(0))
    with pytest.raises(
        ValueError, match=r"load_npz: layers/layers/4/bias has shape \(12,\) in the model, \(10,\) in the file"
    ):
        load_npz(wide, tmp_path / "mnist.npz")
