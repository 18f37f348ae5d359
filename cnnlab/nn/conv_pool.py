"""`Conv2DMaxPool`: a `Conv2D` then a `MaxPool2D`, with the bias and activation applied after pooling."""

from flax import nnx

from cnnlab import ops
from cnnlab.nn._util import linear
from cnnlab.nn.conv import Conv2D
from cnnlab.nn.pool import MaxPool2D
from cnnlab.ops._util import window_padding

__all__ = ["Conv2DMaxPool"]

#: Activations that commute with a maximum exactly, rounding included: `act(max(a, b))` is
#: `max(act(a), act(b))` bit for bit because they are non-decreasing and computed elementwise
#: without approximation (tanh and sigmoid are monotone too, but not provably so to the ulp).
_MAX_COMMUTING = (linear, ops.relu)


class Conv2DMaxPool(nnx.Module):
    """`pool(conv(x))`, computed as `activation(max_pool(conv2d(x)) + bias)`: a speed trick a model chooses.

    Adding a per-channel constant and applying a non-decreasing function both commute with
    a maximum (floating-point rounding is monotone too), so when the pooling windows tile
    the convolution's output without padding the outputs equal `pool(conv(x))` bit for bit,
    while the bias and the activation are computed, stored and differentiated on the pooled
    map: a quarter of the pixels for 2x2 pooling, 8-10 % of a `MnistCNN` training step on
    CPU. Where pooling pads (`"same"` on a size the window does not divide), a window may
    hold only padding and pixels below the bias, so the layers run in their own order.

    Gradients equal those of `pool(conv(x))` except inside windows with tied maxima: both
    give a valid subgradient, but may route a window's gradient to different tied pixels
    (with a relu, `pool(conv(x))` ties at zero; here only the pre-activation values tie).

    The two layers are kept as they are, under `conv` and `pool`, so weight import and
    export (`nn.named_layers`) see a `Conv2D` and a `MaxPool2D` as in Keras.

    Args:
      conv: a `Conv2D` with a relu or linear (None) activation.
      pool: a `MaxPool2D` whose strides equal its window (the Keras default).

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import Conv2D, Conv2DMaxPool, MaxPool2D
      >>> layer = Conv2DMaxPool(Conv2D(1, 32, 3, padding="same", activation="relu", rngs=nnx.Rngs(0)), MaxPool2D(2))
      >>> layer.conv.kernel.shape, layer(jnp.ones((8, 28, 28, 1))).shape
      ((3, 3, 1, 32), (8, 14, 14, 32))
    """

    def __init__(self, conv: Conv2D, pool: MaxPool2D):
        # Exact types: a subclass may compute differently in its own __call__.
        if type(conv) is not Conv2D:
            raise TypeError(f"Conv2DMaxPool: conv must be a Conv2D, got {type(conv).__name__}")
        if type(pool) is not MaxPool2D:
            raise TypeError(f"Conv2DMaxPool: pool must be a MaxPool2D, got {type(pool).__name__}")
        if conv.activation not in _MAX_COMMUTING:
            raise ValueError(
                f"Conv2DMaxPool: conv's activation must be relu or linear (None), which commute with a "
                f"maximum, got {getattr(conv.activation, '__name__', conv.activation)!r}; use "
                "Sequential(conv, pool) for other activations"
            )
        if pool.strides != pool.pool_size:
            raise ValueError(
                f"Conv2DMaxPool: pool's strides must equal its pool_size (non-overlapping windows), "
                f"got strides {pool.strides} and pool_size {pool.pool_size}; use Sequential(conv, pool)"
            )
        self.conv, self.pool = conv, pool

    def __call__(self, x):
        """`(N, H, W, C_in) -> (N, H', W', C_out)`, the shape of `pool(conv(x))`."""
        conv, pool = self.conv, self.pool
        y = conv.linear_part(x)
        pads = window_padding("MaxPool2D", pool.padding, y.shape[1:3], pool.pool_size, pool.strides)
        if any(lo or hi for lo, hi in pads):
            return pool(conv.activation(conv.add_bias(y)))
        return conv.activation(conv.add_bias(pool(y)))
