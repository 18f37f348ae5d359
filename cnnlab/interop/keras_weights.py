"""`load_applications_weights`: a Keras applications weights file (VGG16, VGG19) into the first
layers of a cnnlab model, such as `models.VGGEncoder` cut at ``'block5_conv2'``.

Two HDF5 layouts are read with h5py (data only; nothing in the file is executed):

- **legacy** (Keras 2, and the files ``keras.applications`` downloads, e.g.
  ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``): the root (or its ``model_weights``
  group) lists ``layer_names``; each layer's group lists its ``weight_names`` (kernel, bias).
  Our layers are paired with the file's by name: the last part of our layer's path
  (``encoder.block1_conv1`` -> ``block1_conv1``), which is why `VGGEncoder` uses Keras's names.
- **Keras 3** (``model.save_weights("vgg.weights.h5")``, or a ``.keras`` zip): groups
  ``layers/conv2d``, ``layers/conv2d_1``, ... numbered per layer kind in the model's order, without
  Keras's layer names. Our layers of each kind take the file's first ones, in order.

Either way the file may hold more layers than the model (an encoder cut at ``block5_conv2`` leaves
``block5_conv3`` and the classifier unused); every layer of the model must find its weights, and
every shape must match, or nothing is written.

Example (the test does this with ``keras.applications.VGG16(weights=None, include_top=False)``):
  >>> from flax import nnx
  >>> from cnnlab.models.vgg import VGGEncoder
  >>> encoder = VGGEncoder("vgg16", up_to="block5_conv2", rngs=nnx.Rngs(0))
  >>> load_applications_weights(encoder, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")  # doctest: +SKIP
"""

import os

import numpy as np

from cnnlab.interop._layers import KERAS_H5_KIND, check_and_assign, describe, slots, weight_layers
from cnnlab.interop.keras import _read_groups

__all__ = ["load_applications_weights", "weights_layout"]

_FN = "load_applications_weights"


def _text(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _legacy_root(h5):
    """The group whose attributes list ``layer_names`` (the root, or ``model_weights`` of a saved
    model), or None when the file is not in the legacy layout."""
    if "layer_names" in h5.attrs:
        return h5
    if "model_weights" in h5 and "layer_names" in h5["model_weights"].attrs:
        return h5["model_weights"]
    return None


def weights_layout(path: str | os.PathLike) -> str:
    """``"legacy"`` or ``"keras3"``: which layout the file at ``path`` has.

    Raises:
      FileNotFoundError: no such file. ValueError: not an HDF5 file, or neither layout.
    """
    import h5py

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{_FN}: {path!r} does not exist or is not a file")
    if path.endswith(".keras"):
        return "keras3"
    try:
        with h5py.File(path, "r") as h5:
            if _legacy_root(h5) is not None:
                return "legacy"
            if "layers" in h5:
                return "keras3"
            top = sorted(h5.keys())[:8]
    except OSError as e:
        raise ValueError(f"{_FN}: {path!r} is not an HDF5 weights file ({e})") from None
    raise ValueError(
        f"{_FN}: {path!r} is neither a legacy Keras weights file (a 'layer_names' attribute) nor a Keras 3 "
        f"one (a 'layers' group); its top level holds {top}"
    )


def _legacy_pending(path: str, ours) -> list:
    import h5py

    pending = []
    with h5py.File(path, "r") as h5:
        root = _legacy_root(h5)
        names = [_text(n) for n in root.attrs["layer_names"]]
        for ourpath, layer in ours:
            name = ourpath.rsplit(".", 1)[-1]
            if name not in names or name not in root:
                raise ValueError(
                    f"{_FN}: {describe(ourpath, layer)} looks for layer {name!r} in {path!r}, which has none; "
                    f"its layers are {', '.join(names)}"
                )
            group = root[name]
            weights = [_text(w) for w in group.attrs.get("weight_names", [])]
            want = slots(layer)
            if len(weights) != len(want):
                raise ValueError(
                    f"{_FN}: {describe(ourpath, layer)} holds {want}, but layer {name!r} in {path!r} has "
                    f"{len(weights)} weights {weights}"
                )
            for slot, w in zip(want, weights, strict=True):
                pending.append((ourpath, layer, slot, np.asarray(group[w]), f"{path!r} layer {name!r} ({w})"))
    return pending


def _keras3_pending(path: str, ours) -> list:
    groups = _read_groups(_FN, path)
    taken: dict[str, int] = {}
    pending = []
    for ourpath, layer in ours:
        kind = KERAS_H5_KIND[type(layer)]
        i = taken.get(kind, 0)
        available = groups.get(kind, [])
        if i >= len(available):
            raise ValueError(
                f"{_FN}: {describe(ourpath, layer)} is the model's {kind!r} layer number {i + 1}, but {path!r} "
                f"holds only {len(available)} of them; its weight groups are {sorted(groups)}"
            )
        taken[kind] = i + 1
        gpath, values = available[i]
        want = slots(layer)
        if len(values) != len(want):
            raise ValueError(f"{_FN}: {describe(ourpath, layer)} holds {want}, {gpath!r} in {path!r} has {len(values)}")
        pending += [(ourpath, layer, s, v, f"{path!r} group {gpath!r}") for s, v in zip(want, values, strict=True)]
    return pending


def load_applications_weights(model, path: str | os.PathLike) -> list[tuple[str, str]]:
    """Copies the weights of a Keras applications file into ``model``'s layers, in place.

    Args:
      model: a cnnlab model or layer whose weight layers are the first layers of the Keras
        network (a `VGGEncoder`; a `TransferSegmenter`'s ``.encoder``).
      path: a legacy ``.h5`` weights file, a Keras 3 ``.weights.h5`` or a ``.keras`` file.

    Returns:
      ``[(our layer's path, where its weights came from), ...]`` in the model's order.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not a Keras weights file; a layer of the model missing from the file; a shape or
        weight count that differs (the message names the file, the layer and both shapes). Nothing
        is written then.
    """
    path = os.fspath(path)
    ours = weight_layers(model)
    if not ours:
        raise ValueError(f"{_FN}: {type(model).__name__} has no layers with weights to load")
    layout = weights_layout(path)
    pending = _legacy_pending(path, ours) if layout == "legacy" else _keras3_pending(path, ours)
    check_and_assign(_FN, pending)
    seen, out = set(), []
    for ourpath, _, _, _, source in pending:
        if ourpath not in seen:
            seen.add(ourpath)
            out.append((ourpath, source.rsplit(" (", 1)[0]))
    return out
