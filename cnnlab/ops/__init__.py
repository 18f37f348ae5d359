"""cnnlab.ops: CNN operators written from scratch as pure functions of arrays.

Layouts: NHWC activations (NLC in 1-D), HWIO kernels, `(KH, KW, C_out, C_in)` for
`conv2d_transpose`. Arrays are positional, static configuration keyword-only.
Every op works under `jax.jit`, `jax.vmap` and `jax.grad`.
"""

from cnnlab.ops.activations import dropout, log_softmax, relu, sigmoid, softmax, tanh
from cnnlab.ops.conv import (
    conv1d,
    conv2d,
    conv2d_transpose,
    conv_output_size,
    conv_transpose_output_size,
)
from cnnlab.ops.dense import dense, flatten
from cnnlab.ops.losses import binary_crossentropy, mae, mse, softmax_cross_entropy
from cnnlab.ops.norm import batch_norm
from cnnlab.ops.pool import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from cnnlab.ops.resample import upsample2d

__all__ = [
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "binary_crossentropy",
    "conv1d",
    "conv2d",
    "conv2d_transpose",
    "conv_output_size",
    "conv_transpose_output_size",
    "dense",
    "dropout",
    "flatten",
    "log_softmax",
    "mae",
    "max_pool1d",
    "max_pool2d",
    "mse",
    "relu",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "tanh",
    "upsample2d",
]
