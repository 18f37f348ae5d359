"""A model's per-layer table, as Keras's ``model.summary()`` prints it: layer, output shape, parameters.

`summary_rows` gives the rows as data, `summary` the table as text. The shapes come from
one abstract forward pass (`jax.eval_shape`: nothing is computed, nothing allocated), the
layers from the module tree (`cnnlab.nn.named_layers`) in the order the forward pass
first reaches them (for a `Sequential`, the order Keras lists them), and the counts from
each layer's ``nnx.Param`` and ``nnx.BatchStat`` variables (Keras counts a
``BatchNormalization``'s moving statistics as non-trainable parameters; so does this
table). A model of several parts that hold its layers (an autoencoder's ``encoder`` and
``decoder``) gets a subtotal per part.

>>> from cnnlab.models import ConvAutoencoder
>>> rows = summary_rows(ConvAutoencoder, (28, 28, 1))
>>> for r in rows[:3]:
...     print(r.name, r.kind, r.output_shape, r.params)
encoder.0.conv Conv2D (None, 28, 28, 16) 160
encoder.0.pool MaxPool2D (None, 14, 14, 16) 0
encoder.1.conv Conv2D (None, 14, 14, 8) 1160
>>> print(summary(ConvAutoencoder, (28, 28, 1)).splitlines()[-3])
Total params: 4,385
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

__all__ = ["DEFAULT_INPUT_SHAPES", "Row", "model_names", "resolve_model", "summary", "summary_rows"]

#: The input shape (without the batch) each model of `cnnlab.models` is summarized for when
#: none is given; a model not listed takes MNIST digits, ``(28, 28, 1)``.
DEFAULT_INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "CifarCNN": (32, 32, 3),
    "NoiseToDigit": (100,),
    "Segmenter": (64, 64, 1),
    "TransferSegmenter": (224, 224, 3),  # VGG's ImageNet images, as seed 002's VGG19 takes them
    "VGGEncoder": (224, 224, 3),
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table.

    Attributes:
      name: the layer's path in the model, e.g. ``"encoder.0.conv"``.
      kind: its class name, e.g. ``"Conv2D"``.
      output_shape: with ``None`` for the batch, e.g. ``(None, 28, 28, 16)``; a tuple of
        such shapes for a layer that is called more than once with different shapes.
      params: its parameters, Keras's count (moving statistics included).
      trainable: those of them that are trained (``nnx.Param``).
      part: the model's top-level attribute holding the layer (``"encoder"``), or ``""``.
    """

    name: str
    kind: str
    output_shape: tuple
    params: int
    trainable: int
    part: str = ""


def model_names() -> list[str]:
    """The models of `cnnlab.models` by name: every concrete model class (not the bases)."""
    from flax import nnx

    from cnnlab import models

    return sorted(
        name
        for name in models.__all__
        if isinstance(getattr(models, name), type)
        and issubclass(getattr(models, name), nnx.Module)
        and "__init__" in vars(getattr(models, name))
    )


def resolve_model(name: str):
    """The model class of `cnnlab.models` called ``name``.

    Raises:
      KeyError: with one line naming the known models.
    """
    names = model_names()
    if name not in names:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(names)}")
    from cnnlab import models

    return getattr(models, name)


def _abstract(model):
    """``model`` itself, or, for a class, an abstract instance (shapes only) built with ``rngs``."""
    from flax import nnx

    if isinstance(model, type):
        cls = model
        return nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0)))
    if not isinstance(model, nnx.Module):
        raise TypeError(f"summary: model must be an nnx.Module or a model class, got {type(model).__name__}")
    return model


def _count(module, trainable_only: bool) -> int:
    import jax
    from flax import nnx

    kinds = nnx.Param if trainable_only else (nnx.Param, nnx.BatchStat)
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(module, kinds)))


def _modules(model) -> list[tuple[str, object]]:
    """Every module under ``model`` with its path, the model itself as ``""``, in definition order."""
    from flax import nnx

    from cnnlab.nn.containers import child_modules

    out = [("", model)]

    def walk(module, prefix):
        for name, child in child_modules(module):
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(child, nnx.Module):
                out.append((path, child))
            walk(child, path)

    walk(model, "")
    return out


def _shapes(tree) -> list[tuple]:
    import jax

    return [tuple(leaf.shape) for leaf in jax.tree.leaves(tree) if hasattr(leaf, "shape")]


def _trace(model, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
    """``(outputs, order)``: the shapes each module (by path) gave, and the order they were reached in.

    The batch is 1 here and ``None`` in the table. A leaf layer that its parent does not call
    (``Conv2DMaxPool`` runs its convolution's parts itself) gets the shape it gives on its
    parent's input.
    """
    import jax
    import jax.numpy as jnp
    from flax import nnx

    graphdef, state = nnx.split(model)
    outputs: dict[str, list[tuple]] = {}
    inputs: dict[str, tuple] = {}
    order: dict[str, int] = {}  # the order modules are first entered

    def forward(state, x):
        m = nnx.merge(graphdef, state)
        if hasattr(m, "eval"):
            m.eval()  # dropout off, batch norm on its moving statistics: nothing random, nothing updated
        paths = {id(mod): path for path, mod in _modules(m)}
        patched = {}
        for cls in {type(mod) for _, mod in _modules(m)}:
            patched[cls] = vars(cls).get("__call__")

            def call(self, *args, _original=cls.__call__, **kwargs):
                path = paths.get(id(self))
                if path is not None:
                    order.setdefault(path, len(order))
                y = _original(self, *args, **kwargs)
                if path is not None:
                    if args and path not in inputs:
                        inputs[path] = args[0]
                    shape = tuple(_shapes(y))
                    if shape not in outputs.setdefault(path, []):
                        outputs[path].append(shape)
                return y

            cls.__call__ = call
        try:
            y = m(x)
            # Leaves their parent never called: chain the parent's input through them.
            leaves = {path: mod for path, mod in _modules(m) if path and not _children(mod)}
            for path, leaf in leaves.items():
                parent = path.rpartition(".")[0]
                if path in outputs or parent not in inputs:
                    continue
                z = leaf(inputs[parent])
                outputs[path] = [tuple(_shapes(z))]
                order[path] = order[parent]  # before its siblings, which the parent entered later
        finally:
            for cls, original in patched.items():
                if original is None:
                    del cls.__call__
                else:
                    cls.__call__ = original
        return y

    jax.eval_shape(forward, state, jax.ShapeDtypeStruct((1, *input_shape), jnp.float32))
    return outputs, order


def _children(module) -> bool:
    from flax import nnx

    return any(isinstance(v, nnx.Module | nnx.List) for k, v in vars(module).items() if not k.startswith("_pytree__"))


def _batchless(shapes: list[tuple]) -> tuple:
    """``[((1, 28, 28, 16),)]`` -> ``(None, 28, 28, 16)``; several shapes -> a tuple of them."""
    flat = [(None, *s[1:]) for call in shapes for s in call]
    return flat[0] if len(flat) == 1 else tuple(flat)


def summary_rows(model, input_shape: Sequence[int]) -> list[Row]:
    """The table's rows: each leaf layer of ``model`` with its output shape and parameter counts.

    Args:
      model: an ``nnx.Module``, or a model class that takes ``rngs=`` (built abstractly,
        with shapes and no values, by ``nnx.eval_shape``).
      input_shape: one example's shape, without the batch: ``(28, 28, 1)``.

    Returns:
      `Row` s in the order the forward pass reaches the layers (for a `Sequential`, its
      order); parameter-free layers (pooling, flatten) included.
    """
    return _rows(_abstract(model), tuple(int(d) for d in input_shape))[0]


def _rows(model, input_shape: tuple[int, ...]) -> tuple[list[Row], dict]:
    from cnnlab.nn import named_layers

    outputs, order = _trace(model, input_shape)
    rows = []
    for path, layer in named_layers(model):
        shape = _batchless(outputs[path]) if path in outputs else ()
        part = path.split(".", 1)[0] if "." in path else ""
        rows.append(Row(path, type(layer).__name__, shape, _count(layer, False), _count(layer, True), part))
    # Stable: layers never reached keep their definition order, after the others.
    rows.sort(key=lambda r: order.get(r.name, len(order)))
    return rows, outputs


def _fmt_shape(shape: tuple) -> str:
    if shape and isinstance(shape[0], tuple):
        return ", ".join(map(_fmt_shape, shape))
    if not shape:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def summary(model, input_shape: Sequence[int]) -> str:
    """The Keras-style table of `summary_rows` with totals, as text.

    Args:
      model: an ``nnx.Module``, or a model class of `cnnlab.models` (or any taking ``rngs=``).
      input_shape: one example's shape, without the batch.

    Returns:
      The table: one row per layer (``path (Type)``, output shape, ``Param #``), a subtotal
      per top-level part when the model has several, then ``Total params``, ``Trainable
      params`` and ``Non-trainable params``.
    """
    model = _abstract(model)
    input_shape = tuple(int(d) for d in input_shape)
    rows, outputs = _rows(model, input_shape)
    table = [(f"{r.name} ({r.kind})", _fmt_shape(r.output_shape), f"{r.params:,}") for r in rows]
    parts = list(dict.fromkeys(r.part for r in rows))
    subtotals = []
    if len(parts) > 1 and "" not in parts:  # every layer belongs to a part
        for part in parts:
            shape = _batchless(outputs[part]) if part in outputs else ()
            n = sum(r.params for r in rows if r.part == part)
            subtotals.append((f"{part} ({type(getattr(model, part)).__name__})", _fmt_shape(shape), f"{n:,}"))
    header = ("Layer (type)", "Output Shape", "Param #")
    w0, w1, w2 = (max(len(t[i]) for t in [header, *table, *subtotals]) for i in range(3))
    width = w0 + w1 + w2 + 4

    def line(t):
        return f"{t[0]:<{w0}}  {t[1]:<{w1}}  {t[2]:>{w2}}"

    total, trainable = sum(r.params for r in rows), sum(r.trainable for r in rows)
    shape = "(" + ", ".join(["None", *map(str, input_shape)]) + ")"
    out = [f'Model: "{type(model).__name__}", input {shape}', "=" * width, line(header), "=" * width]
    out += [line(t) for t in table]
    if subtotals:
        out += ["-" * width, *(line(t) for t in subtotals)]
    out += [
        "=" * width,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(out)
