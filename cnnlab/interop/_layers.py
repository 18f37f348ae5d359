"""The weight-holding layers of a model, in definition order, and checked assignment into them."""

from collections.abc import Sequence

import numpy as np

from cnnlab import nn

# Our layer types, the Keras class each corresponds to, and the snake-case name Keras gives
# its weights' group in `.weights.h5` files.
KERAS_CLASS = {
    nn.Conv1D: "Conv1D",
    nn.Conv2D: "Conv2D",
    nn.Conv2DTranspose: "Conv2DTranspose",
    nn.Dense: "Dense",
    nn.BatchNorm: "BatchNormalization",
}
KERAS_H5_KIND = {
    nn.Conv1D: "conv1d",
    nn.Conv2D: "conv2d",
    nn.Conv2DTranspose: "conv2d_transpose",
    nn.Dense: "dense",
    nn.BatchNorm: "batch_normalization",
}


def weight_layers(model) -> list[tuple[str, object]]:
    """`(path, layer)` for every layer that holds weights, in definition order (Keras's order)."""
    return [(p, m) for p, m in nn.named_layers(model) if type(m) in KERAS_CLASS]


def slots(layer) -> list[str]:
    """Attribute names of `layer`'s arrays in Keras's `get_weights()` order.

    Conv/Dense: kernel, bias; BatchNorm: gamma (scale), beta (bias), moving mean, moving variance.
    """
    names = ("scale", "bias", "mean", "var") if isinstance(layer, nn.BatchNorm) else ("kernel", "bias")
    return [n for n in names if getattr(layer, n, None) is not None]


def is_float(dtype: np.dtype) -> bool:
    """A floating-point dtype, NumPy's or ml_dtypes' (bfloat16, float8_*)."""
    return "float" in np.dtype(dtype).name


def describe(path: str, layer) -> str:
    return f"{path or 'model'} ({type(layer).__name__})"


def check_and_assign(fn: str, pending: Sequence[tuple[str, object, str, np.ndarray, str]]) -> None:
    """Check every `(path, layer, slot, value, source)` shape and dtype first, then assign them all.

    Nothing is written unless every shape matches and every value is floating point (any width:
    float16, bfloat16 and float64 are converted to the layer's dtype; integers, strings and
    objects are refused, not cast), so a failed load leaves the model as it was.
    """
    for path, layer, slot, value, source in pending:
        if not is_float(value.dtype):
            raise ValueError(
                f"{fn}: {describe(path, layer)} {slot} has dtype {value.dtype} in {source}; "
                "weights must be floating point"
            )
        ours = tuple(getattr(layer, slot).shape)
        if tuple(value.shape) != ours:
            raise ValueError(
                f"{fn}: {describe(path, layer)} {slot} has shape {ours}, but {source} holds {tuple(value.shape)}"
            )
    for _, layer, slot, value, _ in pending:
        var = getattr(layer, slot)
        var[...] = np.asarray(value).astype(var.dtype)


def export_arrays(model) -> list[np.ndarray]:
    """All weight arrays, layer by layer in definition order, each layer's in Keras order."""
    return [np.asarray(getattr(layer, s)[...]) for _, layer in weight_layers(model) for s in slots(layer)]
