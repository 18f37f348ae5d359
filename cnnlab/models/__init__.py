"""cnnlab.models: the classic studies' networks, assembled from `cnnlab.nn`.

Every model is built as `Model(rngs=nnx.Rngs(0))` with options keyword-only, takes NHWC
floats in [0, 1], and carries its shape walk in its docstring. Classifiers return logits
and have `probabilities` (their softmax); autoencoders return reconstructions and expose
`encode`/`decode`. `decoder(model)` / `encoder(model)` give any of their decoders and
encoders as pure functions of `(params, z)`; `functional` holds hand-written pure forward
passes of some of them. `spec(model)` says how a zoo model was built and `build(spec)`
makes it again (`ZOO` lists them by name): what a saved run keeps to reload its models.
"""

from cnnlab.models.autoencoders import (
    Autoencoder,
    ConvAutoencoder,
    DenoisingAutoencoder,
    ImprovedLeNetAutoencoder,
    LeNetAutoencoder,
    StridedAutoencoder,
    WideLeNetAutoencoder,
)
from cnnlab.models.classifiers import CifarCNN, Classifier, LeNet5, LeNet5Improved, MnistCNN, OneConvCNN
from cnnlab.models.decoders import decoder, encoder
from cnnlab.models.functional import (
    conv_autoencoder_params,
    decoder_apply,
    encoder_apply,
    noise_to_digit_apply,
    noise_to_digit_params,
    stack_params,
)
from cnnlab.models.generators import NoiseToDigit, add_uniform_noise, class_noise
from cnnlab.models.registry import ZOO, build, spec
from cnnlab.models.segmentation import Segmenter
from cnnlab.models.vgg import TransferSegmenter, VGGEncoder

__all__ = [
    "ZOO",
    "Autoencoder",
    "CifarCNN",
    "Classifier",
    "ConvAutoencoder",
    "DenoisingAutoencoder",
    "ImprovedLeNetAutoencoder",
    "LeNet5",
    "LeNet5Improved",
    "LeNetAutoencoder",
    "MnistCNN",
    "NoiseToDigit",
    "OneConvCNN",
    "Segmenter",
    "StridedAutoencoder",
    "TransferSegmenter",
    "VGGEncoder",
    "WideLeNetAutoencoder",
    "add_uniform_noise",
    "build",
    "class_noise",
    "conv_autoencoder_params",
    "decoder",
    "decoder_apply",
    "encoder",
    "encoder_apply",
    "noise_to_digit_apply",
    "noise_to_digit_params",
    "spec",
    "stack_params",
]
