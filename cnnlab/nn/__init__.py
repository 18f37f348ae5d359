"""cnnlab.nn: Flax NNX layers that own parameters and compute with `cnnlab.ops`.

Keras-like defaults (glorot-uniform kernels, zero biases, `"valid"`/`"same"` padding,
activations by name), so that a Keras `Sequential` translates line by line; signatures
like `nnx.Conv` (sizes positional, options keyword-only, `rngs` required where there are
parameters or randomness). Train/eval: `model.train()` / `model.eval()` switch
`BatchNorm.use_running_average` and `Dropout.deterministic`, as for flax's own layers.
"""

from cnnlab.nn._util import ACTIVATIONS, Activation, glorot_uniform, linear, zeros
from cnnlab.nn.containers import Sequential, count_params, layers_in_order, named_layers
from cnnlab.nn.conv import Conv1D, Conv2D, Conv2DTranspose
from cnnlab.nn.conv_pool import Conv2DMaxPool
from cnnlab.nn.dense import Dense, Flatten, Unflatten
from cnnlab.nn.dropout import Dropout
from cnnlab.nn.norm import BatchNorm, BatchNormalized
from cnnlab.nn.pool import AvgPool2D, MaxPool2D
from cnnlab.nn.resample import UpSampling2D
from cnnlab.nn.reshape import Reshape

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "AvgPool2D",
    "BatchNorm",
    "BatchNormalized",
    "Conv1D",
    "Conv2D",
    "Conv2DMaxPool",
    "Conv2DTranspose",
    "Dense",
    "Dropout",
    "Flatten",
    "MaxPool2D",
    "Reshape",
    "Sequential",
    "Unflatten",
    "UpSampling2D",
    "count_params",
    "glorot_uniform",
    "layers_in_order",
    "linear",
    "named_layers",
    "zeros",
]
