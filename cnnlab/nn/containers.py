"""`Sequential`, and `layers_in_order`, the walk that weight import/export relies on."""

import math
from collections.abc import Callable, Iterator

import jax
from flax import nnx

from cnnlab import ops
from cnnlab.nn._util import linear
from cnnlab.nn.conv import Conv2D
from cnnlab.nn.pool import MaxPool2D
from cnnlab.ops._util import window_padding

__all__ = ["Sequential", "count_params", "layers_in_order", "named_layers"]

#: Activations that commute with a maximum exactly, rounding included: `act(max(a, b))` is
#: `max(act(a), act(b))` bit for bit because they are non-decreasing and computed elementwise
#: without approximation (tanh and sigmoid are monotone too, but not provably so to the ulp).
_MAX_COMMUTING = (linear, ops.relu)


def _conv_then_max_pool(conv, pool, x):
    """`pool(conv(x))` with the bias and activation applied after pooling, or None.

    For a `Conv2D` whose activation commutes with `max` followed by a `MaxPool2D` whose
    windows tile the convolution's output without padding, `max_pool(act(conv(x) + b))`
    is exactly `act(max_pool(conv(x)) + b)`: adding a per-channel constant and a
    non-decreasing function both commute with a maximum (floating-point rounding is
    monotone too). The second form adds the bias and applies the activation on the
    pooled map, a quarter the size for 2x2 pooling, so neither is computed, stored for
    the backward pass nor differentiated at full resolution: 8-10 % of a `MnistCNN`
    training step on CPU. Gradients agree except where a pooling window holds tied
    maxima, where both forms give valid subgradients.
    """
    # Exact types: a subclass may compute differently in its own __call__.
    if not (type(conv) is Conv2D and type(pool) is MaxPool2D and conv.activation in _MAX_COMMUTING):
        return None
    if pool.strides != pool.pool_size:
        return None
    y = conv.linear_part(x)
    pads = window_padding("MaxPool2D", pool.padding, y.shape[1:3], pool.pool_size, pool.strides)
    if any(lo or hi for lo, hi in pads):
        # A padded ("same" on an odd size) window may hold only padding and real pixels
        # below the bias: keep the layers' own order.
        return pool(conv.activation(conv.add_bias(y)))
    return conv.activation(conv.add_bias(pool(y)))


class Sequential(nnx.Module):
    """Apply layers (or plain functions) in order, like Keras `Sequential` and `nnx.Sequential`.

    One rewrite, exact in the forward pass: a `Conv2D` with a relu or linear activation
    followed by a `MaxPool2D` whose windows tile its output without padding is computed as
    convolution, pooling, then bias and activation on the pooled map (see
    `_conv_then_max_pool`). Calling the layers one by one gives the same outputs.

    Example:
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
        layers, i = list(self.layers), 0
        while i < len(layers):
            # A Conv2D followed by a MaxPool2D may pool before its bias and activation: the
            # same result, computed on a quarter of the pixels (`_conv_then_max_pool`).
            y = _conv_then_max_pool(layers[i], layers[i + 1], x) if i + 1 < len(layers) else None
            if y is None:
                x, i = layers[i](x), i + 1
            else:
                x, i = y, i + 2
        return x

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)


def named_layers(module, prefix: str = "") -> Iterator[tuple[str, nnx.Module]]:
    """Yield `(path, layer)` for the leaf layers of `module` in the order they were defined.

    NNX's own traversal (`nnx.state`, `nnx.iter_graph`) sorts attribute names, so a model
    with `encoder` and `decoder` would list the decoder first. Keras and PyTorch list
    layers in definition order; this walk does too: attributes in assignment order,
    `Sequential`/`nnx.List` entries by index. Leaves are modules without sub-modules
    (`Conv2D`, `Dense`, `BatchNorm`, `MaxPool2D`, `Flatten`, ...); paths read like
    `"encoder.layers.2"`.
    """
    if isinstance(module, Sequential | nnx.List | list | tuple):
        items = [(str(i), c) for i, c in enumerate(module)]
    elif isinstance(module, nnx.Module):
        items = [(k, v) for k, v in vars(module).items() if not k.startswith("_pytree__")]
    else:
        items = []
    items = [(k, c) for k, c in items if isinstance(c, nnx.Module | nnx.List)]
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
