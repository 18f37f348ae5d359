"""Weights in and out of Keras 3: models, `get_weights()` lists, `.weights.h5` and `.keras` files.

Our layers store weights in Keras's layouts (HWIO kernels, `(KH, KW, C_out, C_in)` for
`Conv2DTranspose`, `(D_in, D_out)` for `Dense`, gamma/beta/moving mean/moving variance
for `BatchNormalization`), and flatten NHWC as Keras does, so weights copy over
unchanged; what these functions do is pair the layers and check every shape. Keras is
imported only when a Keras model is given; files are read with h5py.

Example, seed 004's MNIST CNN (linear convolutions) and `cnnlab.models.MnistCNN` (Keras on JAX):
  >>> import os
  >>> os.environ["KERAS_BACKEND"] = "jax"  # before Keras is first imported
  >>> import keras
  >>> from keras import layers as L
  >>> import numpy as np
  >>> from flax import nnx
  >>> from cnnlab.interop.keras import export_weights, load_weights
  >>> from cnnlab.models import MnistCNN
  >>> keras_model = keras.Sequential([
  ...     keras.Input((28, 28, 1)),
  ...     L.Conv2D(32, 3, padding="same"), L.MaxPooling2D(2),
  ...     L.Conv2D(16, 3, padding="same"), L.MaxPooling2D(2),
  ...     L.Flatten(), L.Dense(10),
  ... ])
  >>> model = MnistCNN(rngs=nnx.Rngs(0))
  >>> load_weights(model, keras_model)      # or keras_model.get_weights(), or "mnist.weights.h5"
  >>> np.array_equal(model.layers[-1].kernel[...], keras_model.layers[-1].kernel.value)
  True
  >>> keras_model.set_weights(export_weights(model))
  >>> keras_model.count_params()
  12794
"""

import io
import os
import re
import zipfile
from collections import defaultdict

import numpy as np

from cnnlab.interop._layers import (
    KERAS_CLASS,
    KERAS_H5_KIND,
    check_and_assign,
    describe,
    export_arrays,
    slots,
    weight_layers,
)

__all__ = ["export_weights", "load_weights"]


def export_weights(model) -> list[np.ndarray]:
    """The model's weights as Keras's `get_weights()` list, for `keras_model.set_weights(...)`.

    Layers with weights in definition order; within a layer kernel and bias, or gamma,
    beta, moving mean and moving variance.
    """
    return export_arrays(model)


def load_weights(model, source) -> None:
    """Copy Keras weights into `model` in place, layer by layer, checking every shape.

    Args:
      model: a `cnnlab` model or layer.
      source: a Keras 3 model or layer (nested models are walked in order), a list of
        arrays as `keras_model.get_weights()` returns, or the path of a `.weights.h5` or
        `.keras` file. Files written for auto-named layers (`conv2d`, `conv2d_1`, ...)
        are paired by layer kind in order; for custom layer names load the Keras model
        and pass it.

    Raises:
      ValueError: a layer count, kind or shape does not match; the message names our
        layer, the Keras layer, and both shapes. Nothing is written in that case.
    """
    fn = "load_weights"
    ours = weight_layers(model)
    if isinstance(source, str | os.PathLike):
        pending = _from_file(fn, ours, os.fspath(source))
    elif isinstance(source, list | tuple):
        pending = _from_list(fn, ours, source)
    elif hasattr(source, "weights") and hasattr(source, "get_weights"):
        pending = _from_keras_model(fn, ours, source)
    else:
        raise TypeError(
            f"{fn}: source must be a Keras model, a list of arrays or a .weights.h5/.keras path, "
            f"got {type(source).__name__}"
        )
    check_and_assign(fn, pending)


def _from_list(fn, ours, arrays):
    need = sum(len(slots(layer)) for _, layer in ours)
    if len(arrays) != need:
        raise ValueError(
            f"{fn}: the model holds {need} weight arrays in {len(ours)} layers, the list has {len(arrays)}"
        )
    it = iter(arrays)
    return [
        (path, layer, s, np.asarray(next(it)), f"list entry {i}")
        for i, (path, layer, s) in enumerate((p, m, s) for p, m in ours for s in slots(m))
    ]


def _keras_leaves(layer):
    """Keras layers that hold weights, in order, descending into nested models."""
    children = getattr(layer, "layers", None)
    if children:
        for child in children:
            yield from _keras_leaves(child)
    elif layer.weights:
        yield layer


def _from_keras_model(fn, ours, keras_model):
    theirs = list(_keras_leaves(keras_model))
    if len(theirs) != len(ours):
        raise ValueError(
            f"{fn}: the model has {len(ours)} layers with weights, the Keras model {len(theirs)}: "
            f"ours {[type(m).__name__ for _, m in ours]}, Keras {[type(k).__name__ for k in theirs]}"
        )
    pending = []
    for (path, layer), klayer in zip(ours, theirs, strict=True):
        kcls = type(klayer).__name__
        if kcls != KERAS_CLASS[type(layer)]:
            raise ValueError(f"{fn}: {describe(path, layer)} is paired with Keras layer {klayer.name!r} ({kcls})")
        # `v.value`, not `klayer.get_weights()`: Keras's `Variable.numpy()` warns under NumPy 2.
        values = [np.asarray(v.value) for v in klayer.weights]
        names = slots(layer)
        if len(values) != len(names):
            raise ValueError(
                f"{fn}: {describe(path, layer)} holds {names}, Keras layer {klayer.name!r} has {len(values)} weights"
            )
        pending += [(path, layer, s, v, f"Keras layer {klayer.name!r}") for s, v in zip(names, values)]
    return pending


def _natural(name: str):
    """`conv2d` < `conv2d_1` < `conv2d_10`: the order Keras numbered them in."""
    m = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return m.group(1), int(m.group(2) or 0)


KERAS_FORMAT = (
    "a Keras 3 weights file: a .weights.h5 written by model.save_weights(...), or a .keras zip "
    "written by model.save(...), holding layers/NAME/vars/0, 1, ... datasets"
)


class _NotKeras(ValueError):
    """The file does not have the structure of a Keras 3 weights file."""


def _layer_arrays(name, vars_group) -> list[np.ndarray]:
    """The arrays of one `layers/.../vars` group, in Keras's order `0, 1, ...`."""
    import h5py

    if not isinstance(vars_group, h5py.Group):
        raise _NotKeras(f"{name} is a dataset, not a group of numbered datasets")
    keys = list(vars_group.keys())
    if not all(k.isdigit() for k in keys):
        raise _NotKeras(f"{name} holds {sorted(keys)}, not numbered datasets 0, 1, ...")
    arrays = []
    for k in sorted(keys, key=int):
        if not isinstance(vars_group[k], h5py.Dataset):
            raise _NotKeras(f"{name}/{k} is a group, not a dataset")
        arrays.append(np.asarray(vars_group[k]))
    return arrays


def _h5_groups(h5):
    """`{kind: [(path, [arrays])...]}` of every group that holds `vars/0, vars/1, ...`."""
    found = []

    def visit(name, obj):
        # Layers live under "layers/"; the top-level "vars" is the model's own (empty) and
        # "optimizer/vars" holds the optimizer's slots after `fit`.
        if name.startswith("layers/") and name.endswith("/vars"):
            arrays = _layer_arrays(name, obj)
            if arrays:
                found.append((name[: -len("/vars")], arrays))

    h5.visititems(visit)
    groups = defaultdict(list)
    for path, arrays in sorted(found, key=lambda e: [_natural(p) for p in e[0].split("/")]):
        groups[_natural(path.rsplit("/", 1)[-1])[0]].append((path, arrays))
    return groups


def _read_groups(fn, path):
    """`_h5_groups` of a `.weights.h5` or `.keras` file; ValueError when it is not one."""
    import h5py

    if not path.endswith((".keras", ".h5")):
        raise ValueError(f"{fn}: source file must end in .weights.h5 or .keras, got {path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{fn}: {path!r} does not exist or is not a file")
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as z:
                source = io.BytesIO(z.read("model.weights.h5"))
        else:
            source = path
        with h5py.File(source, "r") as h5:
            groups = _h5_groups(h5)
    except (zipfile.BadZipFile, KeyError, OSError, _NotKeras) as e:  # what h5py and zipfile raise for garbage
        why = str(e) if isinstance(e, _NotKeras) else f"{type(e).__name__}: {e}"
        raise ValueError(f"{fn}: {path!r} is not a Keras 3 weights file: {why}; need {KERAS_FORMAT}") from e
    if not groups:
        raise ValueError(
            f"{fn}: {path!r} is not a Keras 3 weights file: it holds no layer weights; need {KERAS_FORMAT} "
            "(a Keras 2 .h5: load it into a Keras 3 model and pass the model)"
        )
    return groups


def _from_file(fn, ours, path):
    groups = _read_groups(fn, path)
    pending = []
    for ourpath, layer in ours:
        kind = KERAS_H5_KIND[type(layer)]
        if not groups.get(kind):
            raise ValueError(
                f"{fn}: {describe(ourpath, layer)} has no {kind!r} layer left to take weights from in {path!r}; "
                f"its weight groups are {sorted(groups)} (custom layer names: load the Keras model and pass it)"
            )
        gpath, values = groups[kind].pop(0)
        names = slots(layer)
        if len(values) != len(names):
            raise ValueError(f"{fn}: {describe(ourpath, layer)} holds {names}, {gpath!r} has {len(values)} arrays")
        pending += [(ourpath, layer, s, v, f"{gpath!r}") for s, v in zip(names, values)]
    left = {k: [p for p, _ in v] for k, v in groups.items() if v}
    if left:
        raise ValueError(f"{fn}: {path!r} holds weights the model has no layer for: {left}")
    return pending
