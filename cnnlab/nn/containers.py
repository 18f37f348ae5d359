"""`Sequential`, and `layers_in_order`, the walk that weight import/export relies on."""

import math
from collections.abc import Callable, Iterator

import jax
from flax import nnx

__all__ = ["Sequential", "count_params", "layers_in_order", "named_layers"]


class Sequential(nnx.Module):
    """Apply layers (or plain functions) in order, like Keras `Sequential` and `nnx.Sequential`.

    Plain composition, like stax's `serial`: `Sequential(a, b)(x)` is `b(a(x))`, gradients
    included. (Pooling a convolution's output before its bias and relu is the explicit
    layer `Conv2DMaxPool`, which a model chooses.)

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import Conv2D, Dense, Flatten, MaxPool2D, Sequential
      >>> rngs = nnx.Rngs(0)
      >>> model = Sequential(Conv2D(1, 8, 3, rngs=rngs), MaxPool2D(2), Flatten(), Dense(1352, 10, rngs=rngs))
      >>> model(jnp.ones((4, 28, 28, 1))).shape
      (4, 10)
    """

    def __init__(self, *layers: Callable):
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: layer {i} must be callable, got {type(layer).__name__}")
        self.layers = nnx.List(layers)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)


def child_modules(module) -> list[tuple[str, nnx.Module | nnx.List]]:
    """The direct sub-modules (and ``nnx.List``s) of ``module`` with their names, in definition order:
    attributes in assignment order, `Sequential`/``nnx.List`` entries by index."""
    if isinstance(module, Sequential | nnx.List | list | tuple):
        items = [(str(i), c) for i, c in enumerate(module)]
    elif isinstance(module, nnx.Module):
        items = [(k, v) for k, v in vars(module).items() if not k.startswith("_pytree__")]
    else:
        items = []
    return [(k, c) for k, c in items if isinstance(c, nnx.Module | nnx.List)]


def named_layers(module, prefix: str = "") -> Iterator[tuple[str, nnx.Module]]:
    """Yield `(path, layer)` for the leaf layers of `module` in the order they were defined.

    NNX's own traversal (`nnx.state`, `nnx.iter_graph`) sorts attribute names, so a model
    with `encoder` and `decoder` would list the decoder first. Keras and PyTorch list
    layers in definition order; this walk does too: attributes in assignment order,
    `Sequential`/`nnx.List` entries by index. Leaves are modules without sub-modules
    (`Conv2D`, `Dense`, `BatchNorm`, `MaxPool2D`, `Flatten`, ...); paths read like
    `"encoder.layers.2"`.
    """
    items = child_modules(module)
    if not items:
        if isinstance(module, nnx.Module) and not isinstance(module, Sequential):
            yield prefix, module
        return
    for name, child in items:
        yield from named_layers(child, f"{prefix}.{name}" if prefix else name)


def layers_in_order(module) -> Iterator[nnx.Module]:
    """The leaf layers of `module` in definition order (`named_layers` without the paths)."""
    for _, layer in named_layers(module):
        yield layer


def count_params(module, *, trainable_only: bool = False) -> int:
    """Number of scalars in `module`'s `nnx.Param`s, plus its `nnx.BatchStat`s unless `trainable_only`.

    With the statistics included it is what Keras's `count_params()` reports (a Keras
    `BatchNormalization` counts its moving mean and variance).
    """
    kinds = nnx.Param if trainable_only else (nnx.Param, nnx.BatchStat)
    state = nnx.state(module, kinds)
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(state))
