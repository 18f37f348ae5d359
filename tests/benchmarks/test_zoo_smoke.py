"""`benchmarks/zoo.py` and its peers: FLOPs against hand counts, peers against PyTorch and Keras, the smoke run."""

import json
import math
import subprocess
import sys

import _arch
import _peers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import models, nn
from tests.benchmarks.conftest import BENCHMARKS
from tests.tolerances import assert_close


def _conv(hw, cin, cout, k=3):
    return _arch.Op("conv", (hw, hw, cin), (hw, hw, cout), dict(cin=cin, cout=cout, k=(k, k)))


def test_flop_counter_against_hand_counts():
    """Two layers counted by hand: 2 x multiply-accumulates."""
    # MnistCNN's first convolution: 28 x 28 outputs x 32 filters x 3 x 3 taps x 1 channel.
    assert _arch.macs(_conv(28, 1, 32)) == 28 * 28 * 32 * 9 == 225_792
    assert _arch.flops([_conv(28, 1, 32)])["forward"] == 451_584
    # A Dense 784 -> 10: 7,840 multiply-accumulates.
    dense = _arch.Op("dense", (784,), (10,), dict(cin=784, cout=10))
    assert _arch.flops([dense])["forward"] == 15_680
    # A transposed convolution 14x14x32 -> 28x28x1, 7x7 kernel: every input pixel times every tap.
    convt = _arch.Op("conv_transpose", (14, 14, 32), (28, 28, 1), dict(cin=32, cout=1, k=(7, 7)))
    assert _arch.macs(convt) == 14 * 14 * 32 * 49 == 307_328
    # A step: forward + weight gradient for the first layer; + input gradient for the others.
    assert _arch.flops([_conv(28, 1, 32), dense])["train_step"] == 2 * 451_584 + 3 * 15_680


def test_flops_of_mnist_cnn_from_its_layers():
    """The walk reads MnistCNN's layers: 225,792 + 903,168 + 7,840 multiply-accumulates (hand count)."""
    arch = _arch.walk(models.MnistCNN(rngs=nnx.Rngs(0)), (28, 28, 1))
    hand = 28 * 28 * 32 * 9 * 1 + 14 * 14 * 16 * 9 * 32 + 784 * 10
    assert _arch.flops(arch)["forward"] == 2 * hand


def _torch_out(torch, net, x):
    with torch.no_grad():
        y = net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if x.ndim == 4 else x))).numpy()
    return y.transpose(0, 2, 3, 1) if y.ndim == 4 else y


@pytest.mark.parametrize(
    ("name", "shape"),
    [("MnistCNN", (28, 28, 1)), ("ConvAutoencoder", (28, 28, 1)), ("StridedAutoencoder", (28, 28, 1)),
     ("NoiseToDigit", (100,)), ("Segmenter", (16, 16, 1))],
)  # fmt: skip
def test_torch_peer_computes_what_cnnlab_computes(name, shape):
    """The PyTorch peer's weights loaded into the cnnlab model (`cnnlab.interop.torch`): the same outputs.

    Covers "same" padding, max pooling with padding, transposed convolutions cropped as
    Keras crops them, batch norm, Unflatten and the U-Net's skips.
    """
    torch = pytest.importorskip("torch")
    model = models.ZOO[name](rngs=nnx.Rngs(0))
    torch.manual_seed(0)
    net = _peers.torch_model(torch, _arch.walk(model, shape)).eval()
    nn_params = nn.count_params(model, trainable_only=True)
    assert sum(p.numel() for p in net.parameters()) == nn_params
    from cnnlab.interop import torch as tio

    tio.load_state_dict(model, net.state_dict())
    model.eval()
    x = np.random.default_rng(0).random((3, *shape), np.float32)
    assert_close(model(jnp.asarray(x)), _torch_out(torch, net, x))


def test_keras_peer_computes_what_cnnlab_computes():
    """The Keras peer of ConvAutoencoder ("same" max pooling, upsampling, a valid convolution)."""
    keras = pytest.importorskip("keras")
    from cnnlab.interop import keras as kio

    model = models.ConvAutoencoder(rngs=nnx.Rngs(0))
    peer = _peers.keras_model(keras, _arch.walk(model, (28, 28, 1)), (28, 28, 1))
    kio.load_weights(model, peer)
    model.eval()
    x = np.random.default_rng(0).random((3, 28, 28, 1), np.float32)
    assert_close(model(jnp.asarray(x)), np.asarray(peer(x, training=False)))


def test_flax_peer_has_the_shapes_and_parameters():
    """Flax's own layers: the output shape and parameter count of each model tried."""
    for name, shape in [("LeNet5Improved", (28, 28, 1)), ("StridedAutoencoder", (28, 28, 1))]:
        model = models.ZOO[name](rngs=nnx.Rngs(0))
        peer = _peers.flax_model(_arch.walk(model, shape), nnx.Rngs(0))
        peer.eval()
        model.eval()
        x = jax.ShapeDtypeStruct((2, *shape), jnp.float32)  # shapes only: traced, never compiled or run
        assert jax.eval_shape(peer, x).shape == jax.eval_shape(model, x).shape, name
        count = sum(math.prod(v.shape) for v in jax.tree.leaves(nnx.state(peer, nnx.Param)))
        assert count == nn.count_params(model, trainable_only=True), name


def test_walk_refuses_a_layer_it_cannot_translate():
    class OneD(nnx.Module):
        def __init__(self):
            self.layers = nn.Sequential(nn.Conv1D(1, 4, 3, rngs=nnx.Rngs(0)))

        def __call__(self, x):
            return self.layers(x)

    with pytest.raises(ValueError, match="no peer translation for layer Conv1D"):
        _arch.walk(OneD(), (28, 1))


def test_zoo_tiny_run(tmp_path):
    """`zoo.py --tiny`: two models, each framework in its own process; finite numbers, a table."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "zoo.py"), "--tiny", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "zoo.json").read_text())
    assert [r["model"] for r in result["rows"]] == ["MnistCNN", "ConvAutoencoder"]
    assert math.isfinite(result["gemm_gflops"]) and result["gemm_gflops"] > 0
    for row in result["rows"]:
        assert row["train_step"] > row["forward"] > 0
        assert set(row["results"]) == {"cnnlab", "PyTorch eager", "Keras 3 (jax)"}
        for fw, r in row["results"].items():
            assert "error" not in r, (row["model"], fw, r)
            assert r["images_per_s"] > 0 and math.isfinite(r["last_loss"]) and r["peak_rss_mb"] > 0
    md = (tmp_path / "zoo.md").read_text()
    assert "vector width" in md and "| MnistCNN |" in md and "x PyTorch eager" in md
