"""`cnnlab.interop.torch`: PyTorch state dicts into our models, forward passes against PyTorch."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from cnnlab import models, nn
from cnnlab.interop import torch as tio
from tests.tolerances import assert_close

T = torch.nn


def torch_lenet5(c1=6):
    """LeNet-5 in PyTorch, NCHW, with padding=2 standing in for Keras's SAME 5x5."""
    return T.Sequential(
        T.Conv2d(1, c1, 5, padding=2), T.Tanh(), T.AvgPool2d(2),
        T.Conv2d(c1, 16, 5), T.Tanh(), T.AvgPool2d(2), T.Flatten(),
        T.Linear(400, 120), T.Tanh(), T.Linear(120, 84), T.Tanh(), T.Linear(84, 10),
    )  # fmt: skip


def _torch_forward(module, x_nhwc):
    with torch.no_grad():
        y = module(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))))
    y = y.numpy()
    return y.transpose(0, 2, 3, 1) if y.ndim == 4 else y


def test_lenet5_from_pytorch_matches_pytorch():
    """OIHW -> HWIO kernels, Linear transposes, and the NCHW flatten order before the first Dense."""
    torch.manual_seed(0)
    reference = torch_lenet5().eval()
    model = models.LeNet5(rngs=nnx.Rngs(0))
    tio.load_state_dict(model, reference.state_dict())
    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    assert_close(nnx.jit(lambda m, x: m(x))(model, jnp.asarray(x)), _torch_forward(reference, x))


def _torch_mnist_cnn(act=T.Identity):
    """Seed 004's network in PyTorch (no activation); ``act=T.ReLU`` for cnnlab's variant."""
    return T.Sequential(
        T.Conv2d(1, 32, 3, padding=1), act(), T.MaxPool2d(2),
        T.Conv2d(32, 16, 3, padding=1), act(), T.MaxPool2d(2),
        T.Flatten(), T.Linear(7 * 7 * 16, 10),
    )  # fmt: skip


def test_one_conv_cnn_from_seed_003_matches_pytorch():
    """Seed 003's single-convolution CNN, its PyTorch code verbatim: the Linear's 1176 inputs are (C, H, W)."""
    torch.manual_seed(0)
    reference = T.Sequential(
        T.Conv2d(1, 6, 5, padding=2),  # 1 input channel, 6 output channels, kernel size 5
        T.Tanh(),                      # Tanh activation function
        T.AvgPool2d(2, 2),             # Average pooling with a pool size of 2 and a stride of 2
        T.Flatten(),                   # Flatten the output of AvgPool. to be batch x 1176
        T.Linear(1176, 10),            # Final linear layer to predict 1 of 10 classes.
    ).eval()  # fmt: skip
    model = models.OneConvCNN(rngs=nnx.Rngs(0))
    assert nn.count_params(model) == sum(p.numel() for p in reference.parameters())
    tio.load_state_dict(model, reference.state_dict())
    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    assert_close(nnx.jit(lambda m, x: m(x))(model, jnp.asarray(x)), _torch_forward(reference, x))


def _torch_denoising_autoencoder():
    up = dict(scale_factor=2, mode="nearest")
    encoder = T.Sequential(
        T.Conv2d(1, 16, 3), T.ReLU(), T.MaxPool2d(2),
        T.Conv2d(16, 8, 2), T.ReLU(), T.MaxPool2d(2),
        T.Conv2d(8, 8, 3), T.ReLU(),
    )  # fmt: skip
    decoder = T.Sequential(
        T.ConvTranspose2d(8, 8, 3), T.ReLU(), T.Upsample(**up),
        T.ConvTranspose2d(8, 8, 2), T.ReLU(), T.Upsample(**up),
        T.ConvTranspose2d(8, 1, 3), T.ReLU(),
    )  # fmt: skip
    return T.Sequential(encoder, decoder)


@pytest.mark.parametrize(
    "make_ours,make_torch",
    [
        (lambda: models.MnistCNN(rngs=nnx.Rngs(0)), _torch_mnist_cnn),
        (lambda: models.MnistCNN(activation="relu", rngs=nnx.Rngs(0)), lambda: _torch_mnist_cnn(T.ReLU)),
        (lambda: models.DenoisingAutoencoder(rngs=nnx.Rngs(0)), _torch_denoising_autoencoder),
    ],
    ids=["MnistCNN", "MnistCNN-relu", "DenoisingAutoencoder"],
)
def test_conv2d_max_pool_models_from_pytorch_match_pytorch(make_ours, make_torch):
    """Models whose conv/pool pairs are `nn.Conv2DMaxPool` layers take PyTorch's Conv2d weights, and
    pooling before the bias and relu gives PyTorch's conv, relu, max-pool outputs."""
    torch.manual_seed(0)
    reference = make_torch().eval()
    for m in reference.modules():  # biases large enough to change which pixels relu zeroes
        if isinstance(m, T.Conv2d | T.ConvTranspose2d | T.Linear):
            m.bias.data.normal_(0, 0.3)
    model = make_ours()
    tio.load_state_dict(model, reference.state_dict())
    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    assert_close(nnx.jit(lambda m, x: m(x))(model, jnp.asarray(x)), _torch_forward(reference, x))


def test_transposed_conv_batch_norm_and_unflatten_from_pytorch():
    """ConvTranspose2d (in, out, kh, kw) kernels, BatchNorm running statistics, Unflatten in CHW order."""
    torch.manual_seed(1)
    reference = T.Sequential(
        T.Linear(4, 18), T.BatchNorm1d(18), T.ReLU(), T.Unflatten(1, (2, 3, 3)),
        T.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1), T.BatchNorm2d(3), T.ReLU(),
        T.Conv2d(3, 1, 3, padding=1),
    )  # fmt: skip
    for m in reference.modules():  # non-trivial running statistics
        if isinstance(m, T.BatchNorm1d | T.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    reference.eval()
    r = nnx.Rngs(0)
    pt_bn = dict(epsilon=1e-5, momentum=0.9)  # PyTorch's defaults, in Keras's convention
    model = nn.Sequential(
        nn.Dense(4, 18, rngs=r), nn.BatchNorm(18, **pt_bn, rngs=r), nn.ACTIVATIONS["relu"], nn.Unflatten((3, 3, 2)),
        nn.Conv2DTranspose(2, 3, 3, strides=2, padding=1, output_padding=1, rngs=r),
        nn.BatchNorm(3, **pt_bn, rngs=r), nn.ACTIVATIONS["relu"],
        nn.Conv2D(3, 1, 3, padding=1, rngs=r),
    )  # fmt: skip
    tio.load_state_dict(model, reference.state_dict())
    model.eval()
    z = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(z)).numpy().transpose(0, 2, 3, 1)
    assert_close(nnx.jit(lambda m, x: m(x))(model, jnp.asarray(z)), expected)


def test_mismatches_name_the_layer_and_both_shapes():
    model = models.LeNet5(rngs=nnx.Rngs(0))
    before = np.asarray(model.layers[0].kernel[...])
    with pytest.raises(
        ValueError,
        match=r"load_state_dict: layers\.0 \(Conv2D\) kernel has shape \(5, 5, 1, 6\), "
        r"but PyTorch module '0' \(converted\) holds \(5, 5, 1, 8\)",
    ):
        tio.load_state_dict(model, torch_lenet5(c1=8).state_dict())
    np.testing.assert_array_equal(model.layers[0].kernel[...], before)  # nothing written
    with pytest.raises(ValueError, match=r"the model has 3 layers with weights, the state dict 5 modules"):
        tio.load_state_dict(models.MnistCNN(rngs=nnx.Rngs(0)), torch_lenet5().state_dict())
    with pytest.raises(ValueError, match=r"pass flatten_shape=\(H, W, C\)"):
        tio.load_state_dict(
            nn.Sequential(nn.Conv2D(1, 3, 1, rngs=nnx.Rngs(0)), nn.Flatten(), nn.Dense(6, 2, rngs=nnx.Rngs(0))),
            T.Sequential(T.Conv2d(1, 3, 1), T.Flatten(), T.Linear(6, 2)).state_dict(),
        )
