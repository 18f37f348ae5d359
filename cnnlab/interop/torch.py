"""Weights from PyTorch `state_dict`s: layouts converted, layers paired in order, shapes checked.

| PyTorch | ours |
| --- | --- |
| `Conv2d.weight` `(C_out, C_in, KH, KW)` | `Conv2D.kernel` `(KH, KW, C_in, C_out)`: `w.transpose(2, 3, 1, 0)` |
| `Conv1d.weight` `(C_out, C_in, K)` | `Conv1D.kernel` `(K, C_in, C_out)`: `w.transpose(2, 1, 0)` |
| `ConvTranspose2d.weight` `(C_in, C_out, KH, KW)` | `Conv2DTranspose.kernel` `(KH, KW, C_out, C_in)`: same |
| `Linear.weight` `(D_out, D_in)` | `Dense.kernel` `(D_in, D_out)`: `w.T` |
| `BatchNorm*d` weight, bias, running_mean, running_var | `BatchNorm` scale, bias, mean, var |

PyTorch flattens NCHW feature maps, we flatten NHWC: the rows of the first `Dense` after
a `Flatten` of an `(H, W, C)` map are permuted from `(C, H, W)` order to `(H, W, C)`; the
outputs of a `Dense` (and its `BatchNorm`) that an `Unflatten((H, W, C))` reshapes, which
PyTorch's `Unflatten(1, (C, H, W))` reads in `(C, H, W)` order, likewise.
Layer configuration is not in a state dict: build the model with PyTorch's semantics
where they differ (explicit integer padding rather than `"same"` for strided layers,
`BatchNorm(epsilon=1e-5, momentum=0.9)` for PyTorch's defaults; PyTorch's `running_var`
is the unbiased estimate and is loaded as stored). torch itself is never imported: any
object with `.detach().cpu().numpy()` or `np.asarray` works.
"""

import math
from collections import OrderedDict

import numpy as np

from cnnlab import nn
from cnnlab.interop._layers import check_and_assign, describe, slots

__all__ = ["load_state_dict"]

_BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def _numpy(t) -> np.ndarray:
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    return np.asarray(t)


def _group(state_dict) -> list[tuple[str, dict]]:
    """`[(module prefix, {name: array})]` in state-dict order; `num_batches_tracked` dropped."""
    groups: OrderedDict[str, dict] = OrderedDict()
    for key, value in state_dict.items():
        prefix, _, name = key.rpartition(".")
        if name == "num_batches_tracked":
            continue
        groups.setdefault(prefix, {})[name] = _numpy(value)
    return list(groups.items())


def load_state_dict(model, state_dict, *, flatten_shape: tuple[int, int, int] | None = None) -> None:
    """Copy a PyTorch `state_dict` into `model` in place, converting layouts and checking every shape.

    Modules with parameters are paired with our weight layers in order (`nn.named_layers`).

    Args:
      model: a `cnnlab` model.
      state_dict: `torch_module.state_dict()` (or any mapping of `"prefix.weight"` names to arrays).
      flatten_shape: `(H, W, C)` of the feature map that the first `Dense` after a `Flatten`
        receives. By default C is the width of the last layer before the `Flatten` and
        `H = W = sqrt(D_in / C)`; give it for non-square maps.

    Raises:
      ValueError: a count, kind or shape does not match; the message names our layer, the
        PyTorch module and both shapes. Nothing is written in that case.
    """
    fn = "load_state_dict"
    ours = [(p, m) for p, m in nn.named_layers(model)]
    theirs = _group(state_dict)
    weight_layers = [(i, p, m) for i, (p, m) in enumerate(ours) if type(m) in _CONVERT]
    if len(weight_layers) != len(theirs):
        raise ValueError(
            f"{fn}: the model has {len(weight_layers)} layers with weights, the state dict {len(theirs)} modules: "
            f"ours {[type(m).__name__ for _, _, m in weight_layers]}, PyTorch {[p for p, _ in theirs]}"
        )
    pending = []
    for (i, path, layer), (prefix, tensors) in zip(weight_layers, theirs, strict=True):
        values = _CONVERT[type(layer)](fn, path, layer, prefix, tensors)
        if isinstance(layer, nn.Dense) and _after_flatten(ours, i):
            values["kernel"] = _nchw_rows_to_nhwc(fn, path, layer, values["kernel"], ours, i, flatten_shape)
        unflatten = _before_unflatten(ours, i)
        if unflatten is not None and isinstance(layer, nn.Dense | nn.BatchNorm):
            values = {k: _chw_to_hwc_last(v, unflatten.shape) for k, v in values.items()}
        names = slots(layer)
        if sorted(values) != sorted(names):
            raise ValueError(
                f"{fn}: {describe(path, layer)} holds {names}, PyTorch module {prefix!r} gives {sorted(values)}"
            )
        pending += [(path, layer, s, values[s], f"PyTorch module {prefix!r} (converted)") for s in names]
    check_and_assign(fn, pending)


def _need(fn, path, layer, prefix, tensors, keys, ndim=None):
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise ValueError(
            f"{fn}: {describe(path, layer)} is paired with PyTorch module {prefix!r}, which lacks {missing}"
        )
    if ndim is not None and tensors["weight"].ndim != ndim:
        raise ValueError(
            f"{fn}: {describe(path, layer)} needs a rank-{ndim} weight, PyTorch module {prefix!r} has shape "
            f"{tensors['weight'].shape}"
        )


def _affine(perm, ndim):
    def convert(fn, path, layer, prefix, tensors):
        _need(fn, path, layer, prefix, tensors, ["weight"], ndim)
        out = {"kernel": tensors["weight"].transpose(perm)}
        if "bias" in tensors:
            out["bias"] = tensors["bias"]
        return out

    return convert


def _batch_norm(fn, path, layer, prefix, tensors):
    _need(fn, path, layer, prefix, tensors, ["running_mean", "running_var"])
    out = {"mean": tensors["running_mean"], "var": tensors["running_var"]}
    if "weight" in tensors:
        out["scale"] = tensors["weight"]
    if "bias" in tensors:
        out["bias"] = tensors["bias"]
    return out


_CONVERT = {
    nn.Conv2D: _affine((2, 3, 1, 0), 4),  # (O, I, KH, KW) -> (KH, KW, I, O)
    nn.Conv2DTranspose: _affine((2, 3, 1, 0), 4),  # (I, O, KH, KW) -> (KH, KW, O, I)
    nn.Conv1D: _affine((2, 1, 0), 3),  # (O, I, K) -> (K, I, O)
    nn.Dense: _affine((1, 0), 2),  # (O, I) -> (I, O)
    nn.BatchNorm: _batch_norm,
}


def _after_flatten(ours, i) -> bool:
    """Is layer `i` a Dense whose input comes from a Flatten, with no other weight layer between?"""
    for _, m in reversed(ours[:i]):
        if isinstance(m, nn.Flatten):
            return True
        if type(m) in _CONVERT or isinstance(m, nn.Unflatten):
            return False
    return False


def _before_unflatten(ours, i):
    """The Unflatten that layer `i`'s output reaches through BatchNorm/parameter-free layers, if any."""
    for _, m in ours[i + 1 :]:
        if isinstance(m, nn.Unflatten):
            return m if len(m.shape) == 3 else None
        if type(m) in _CONVERT and not isinstance(m, nn.BatchNorm):
            return None
    return None


def _chw_to_hwc_last(v, shape):
    """Permute the last axis of `v` from PyTorch's `(C, H, W)` order to our `(H, W, C)` (Unflatten after)."""
    h, w, c = shape
    lead = v.shape[:-1]
    return v.reshape(*lead, c, h, w).swapaxes(-3, -2).swapaxes(-2, -1).reshape(*lead, h * w * c)


def _nchw_rows_to_nhwc(fn, path, layer, kernel, ours, i, flatten_shape):
    """Permute `(C*H*W, D_out)` rows (PyTorch's flatten order) to `(H*W*C, D_out)` (ours)."""
    d_in = kernel.shape[0]
    if flatten_shape is None:
        before = [m for _, m in ours[:i] if hasattr(m, "out_features")]
        if not before:  # a Flatten of an input that no layer made: nothing to infer from
            raise ValueError(f"{fn}: {describe(path, layer)} follows a Flatten; pass flatten_shape=(H, W, C)")
        c = before[-1].out_features
        hw = d_in // c
        side = math.isqrt(hw)
        if hw * c != d_in or side * side != hw:
            raise ValueError(
                f"{fn}: {describe(path, layer)} follows a Flatten of D_in={d_in} features that are not a square "
                f"map of C={c} channels; pass flatten_shape=(H, W, C)"
            )
        flatten_shape = (side, side, c)
    h, w, c = flatten_shape
    if h * w * c != d_in:
        raise ValueError(
            f"{fn}: flatten_shape {flatten_shape} has {h * w * c} features, {describe(path, layer)} takes {d_in}"
        )
    return kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(d_in, -1)
