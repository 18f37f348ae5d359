"""A zoo model's architecture read from its layers at run time, and its FLOPs counted from it.

`walk(model, input_shape)` follows the model's layers in call order (`nn.Sequential`s, the
encoder and decoder of an autoencoder, `nn.BatchNormalized`, `nn.Conv2DMaxPool`, and
`Segmenter`'s two-level U-Net) and returns `Op`s with each layer's configuration and its
per-example input and output shapes. It runs every layer on one zero image as it goes and
checks that the result is ``model(x)``, so a model whose layers it misreads is refused,
not benchmarked as something else. The PyTorch, Keras and Flax peers (`_peers`) are built
from these `Op`s, so they follow the zoo as its models change.

FLOPs: ``2 x`` the multiply-accumulates of convolutions, transposed convolutions and dense
layers (the GEMM work), counted over every output position and tap, padding taps included
(as im2col computes them); a transposed convolution counts every input pixel times every
tap (its scatter form). Bias, activation, pooling, batch norm and resampling are not counted.
A training step is forward plus the weight-gradient GEMMs plus the input-gradient GEMMs of
every weighted layer but the first (whose input is data): 3x forward for all but the first,
2x for it.
"""

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab import models, nn
from cnnlab.ops._util import window_padding

#: Activation functions back to their names (`nn.ACTIVATIONS` inverted).
_ACT_NAMES = {fn: name for name, fn in nn.ACTIVATIONS.items()}
WEIGHTED = ("conv", "conv_transpose", "dense")
_RESHAPE = getattr(nn, "Reshape", None)


@dataclass(frozen=True)
class Op:
    """One layer: its kind, configuration and per-example shapes (NHWC without the batch)."""

    kind: str  # conv, conv_transpose, dense, batch_norm, act, max_pool, avg_pool, upsample, flatten, unflatten, dropout
    in_shape: tuple
    out_shape: tuple
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UNet:
    """`models.Segmenter`: stages of `Op`s joined by pooling, upsampling and (with ``skips``) concatenation."""

    stages: dict  # down1, down2, bottom, up2, up1, head -> list[Op]
    pool: Op
    upsample: Op
    skips: bool


def same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow/Keras ``"same"`` padding of one axis: ``(before, after)``, the extra pixel after."""
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _pads(layer, hw) -> tuple:
    """``((top, bottom), (left, right))`` a convolution or pooling layer pads, any padding form."""
    k = getattr(layer, "kernel_size", None) or layer.pool_size
    d = getattr(layer, "dilation", (1, 1))
    eff = [(k[i] - 1) * d[i] + 1 for i in range(2)]
    return tuple(tuple(p) for p in window_padding(type(layer).__name__, layer.padding, hw, eff, layer.strides))


def _act(layer_name, fn) -> str:
    if fn not in _ACT_NAMES:
        raise ValueError(f"_arch: {layer_name} has activation {fn!r}; the peers know {sorted(nn.ACTIVATIONS)}")
    return _ACT_NAMES[fn]


def _leaf(layer, x) -> tuple[list[Op], jax.Array]:
    """The `Op`s of one layer (an activation becomes its own op) and its output on ``x``."""
    name, shape = type(layer).__name__, tuple(x.shape[1:])
    if isinstance(layer, nn.Conv2D | nn.Conv2DTranspose):
        transpose = isinstance(layer, nn.Conv2DTranspose)
        pre = jnp.asarray(layer(x))  # only its shape is read: an activation keeps the shape
        args = dict(cin=layer.in_features, cout=layer.out_features, k=layer.kernel_size, s=layer.strides,
                    d=layer.dilation, padding=layer.padding, bias=layer.bias is not None)  # fmt: skip
        if transpose:
            args["output_padding"] = layer.output_padding
            full = [(shape[i] - 1) * layer.strides[i] + (layer.kernel_size[i] - 1) * layer.dilation[i] + 1
                    for i in range(2)]  # fmt: skip
            if isinstance(layer.padding, str):  # Keras: SAME crops the odd pixel at the end
                lo = [0 if layer.padding == "VALID" else max(full[i] - pre.shape[1 + i], 0) // 2 for i in range(2)]
            else:  # PyTorch's numbers: crop them at the start
                lo = [p[0] for p in _pads(layer, shape[:2])]
            args["crop"] = tuple((lo[i], full[i] - pre.shape[1 + i] - lo[i]) for i in range(2))
        else:
            args["pads"] = _pads(layer, shape[:2])
        ops = [Op("conv_transpose" if transpose else "conv", shape, tuple(pre.shape[1:]), args)]
        return ops + _activation(name, layer.activation, pre), pre
    if isinstance(layer, nn.Dense):
        y = jnp.asarray(layer(x))
        ops = [Op("dense", shape, y.shape[1:], dict(cin=layer.in_features, cout=layer.out_features))]
        return ops + _activation(name, layer.activation, y), y
    y = jnp.asarray(layer(x))
    if isinstance(layer, nn.BatchNorm):
        args = dict(features=layer.num_features, momentum=layer.momentum, epsilon=layer.epsilon)
        return [Op("batch_norm", shape, y.shape[1:], args)], y
    if isinstance(layer, nn.MaxPool2D | nn.AvgPool2D):
        kind = "max_pool" if isinstance(layer, nn.MaxPool2D) else "avg_pool"
        pads = _pads(layer, shape[:2])
        args = dict(k=layer.pool_size, s=layer.strides, padding=layer.padding, pads=pads)
        return [Op(kind, shape, y.shape[1:], args)], y
    if isinstance(layer, nn.UpSampling2D):
        if layer.interpolation != "nearest":
            raise ValueError(f"_arch: UpSampling2D({layer.interpolation!r}); the peers take 'nearest' only")
        return [Op("upsample", shape, y.shape[1:], dict(size=layer.size))], y
    if isinstance(layer, nn.Flatten):
        return [Op("flatten", shape, y.shape[1:])], y
    if isinstance(layer, nn.Unflatten) or (_RESHAPE and isinstance(layer, _RESHAPE) and len(shape) == 1):
        return [Op("unflatten", shape, y.shape[1:])], y
    if _RESHAPE and isinstance(layer, _RESHAPE) and shape == y.shape[1:]:
        return [], y  # a no-op on these inputs (MnistCNN's Reshape((28, 28, 1)) of a (28, 28, 1) image)
    if isinstance(layer, nn.Dropout):
        return [Op("dropout", shape, y.shape[1:], dict(rate=layer.rate))], y
    raise ValueError(f"_arch: no peer translation for layer {name}")


def _activation(layer_name, fn, y) -> list[Op]:
    return [] if fn is nn.linear else [Op("act", y.shape[1:], y.shape[1:], dict(fn=_act(layer_name, fn)))]


def _sequence(module, x) -> tuple[list[Op], jax.Array]:
    """The `Op`s of a `Sequential`, `BatchNormalized` or `Conv2DMaxPool` (or one leaf layer)."""
    if isinstance(module, nn.Sequential):
        ops = []
        for layer in module:
            more, x = _sequence(layer, x)
            ops += more
        return ops, x
    if isinstance(module, nn.BatchNormalized):
        ops, x = _sequence(module.layer, x)
        more, x = _leaf(module.norm, x)
        y = jnp.asarray(module.activation(x))
        return ops + more + _activation("BatchNormalized", module.activation, y), y
    if isinstance(module, nn.Conv2DMaxPool):
        ops, x = _leaf(module.conv, x)
        more, x = _leaf(module.pool, x)
        return ops + more, x
    return _leaf(module, x)


def _unet(model, x):
    stages = {}
    stages["down1"], s1 = _sequence(model.down1, x)
    pool, p1 = _leaf(model.pool, s1)
    stages["down2"], s2 = _sequence(model.down2, p1)
    stages["bottom"], b = _sequence(model.bottom, jnp.asarray(model.pool(s2)))
    up, u = _leaf(model.upsample, b)
    y = jnp.concatenate([u, s2], -1) if model.skips else u
    stages["up2"], y = _sequence(model.up2, y)
    y = jnp.asarray(model.upsample(y))
    y = jnp.concatenate([y, s1], -1) if model.skips else y
    stages["up1"], y = _sequence(model.up1, y)
    stages["head"], y = _sequence(model.head, y)
    return UNet(stages, pool[0], up[0], model.skips), y


def walk(model, input_shape: tuple) -> list[Op] | UNet:
    """The architecture of zoo ``model`` on per-example ``input_shape``, checked against ``model(x)``.

    Raises:
      ValueError: a layer or a model structure the peers cannot express, or a walk whose
        output differs from the model's own (the walk misread the model).
    """
    x = np.zeros((1, *input_shape), np.float32)
    found = []

    def both(x):  # traced once: the walk reads only shapes, so one compiled program computes both outputs
        if isinstance(model, models.Segmenter):
            arch, y = _unet(model, x)
        else:
            parts = [getattr(model, a) for a in ("layers", "encoder", "decoder") if hasattr(model, a)]
            if not parts:
                raise ValueError(f"_arch: {type(model).__name__} has no layers, encoder or decoder to walk")
            arch, y = [], x
            for part in parts:
                ops, y = _sequence(part, y)
                arch += ops
        found.append(arch)
        return y, model(x)

    model.eval()  # the walk runs the layers in evaluation mode (nothing updates) and leaves the model training
    try:
        y, expected = (np.asarray(a) for a in jax.jit(both)(x))
    finally:
        model.train()
    arch = found[0]
    if y.shape != expected.shape or not np.allclose(y, expected, atol=1e-5):
        raise ValueError(f"_arch: walking {type(model).__name__} layer by layer does not give model(x)")
    return arch


def ops_of(arch) -> list[Op]:
    """Every `Op` in call order (a `UNet`'s stages in the order they run)."""
    if isinstance(arch, UNet):
        s = arch.stages
        return [*s["down1"], arch.pool, *s["down2"], arch.pool, *s["bottom"], arch.upsample, *s["up2"],
                arch.upsample, *s["up1"], *s["head"]]  # fmt: skip
    return list(arch)


def macs(op: Op) -> int:
    """Multiply-accumulates of one forward pass of ``op`` on one example (0 for unweighted ops)."""
    a = op.args
    if op.kind == "conv":
        return math.prod(op.out_shape) * math.prod(a["k"]) * a["cin"]
    if op.kind == "conv_transpose":
        return math.prod(op.in_shape) * math.prod(a["k"]) * a["cout"]
    if op.kind == "dense":
        return a["cin"] * a["cout"] * math.prod(op.in_shape[:-1])
    return 0


def flops(arch) -> dict:
    """``{"forward": ..., "train_step": ...}`` FLOPs per example (module docstring)."""
    weighted = [op for op in ops_of(arch) if op.kind in WEIGHTED]
    fwd = [2 * macs(op) for op in weighted]
    train = sum(f * (2 if i == 0 else 3) for i, f in enumerate(fwd))
    return {"forward": sum(fwd), "train_step": train}
