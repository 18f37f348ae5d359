"""Convolution layers: `Conv1D`, `Conv2D`, `Conv2DTranspose`, thin wrappers over `cnnlab.ops`."""

from collections.abc import Callable

import jax
from flax import nnx

from cnnlab import ops
from cnnlab.nn._util import (
    Activation,
    check_channels,
    check_features,
    default_bias_init,
    default_kernel_init,
    resolve_activation,
    resolve_padding,
)
from cnnlab.ops._util import add_bias, ntuple

__all__ = ["Conv1D", "Conv2D", "Conv2DTranspose"]


class _ConvBase(nnx.Module):
    """Shared constructor: a kernel of `kernel_shape`, an optional `(bias_features,)` bias."""

    _name = "Conv"

    def _configure(self, n, in_features, out_features, kernel_size, strides, dilation, padding, activation):
        """Check and store the static configuration; sizes as `n`-tuples (plain ints when `n == 1`)."""
        check_features(self._name, in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        sizes = {
            name: ntuple(self._name, name, value, n)
            for name, value in (("kernel_size", kernel_size), ("strides", strides), ("dilation", dilation))
        }
        for name, value in sizes.items():
            setattr(self, name, value[0] if n == 1 else value)
        self.padding = resolve_padding(self._name, padding)
        self.activation = resolve_activation(self._name, activation)

    def _init_params(self, kernel_shape, bias_features, use_bias, kernel_init, bias_init, dtype, rngs):
        self.kernel = nnx.Param(kernel_init(rngs.params(), kernel_shape, dtype))
        self.bias = nnx.Param(bias_init(rngs.params(), (bias_features,), dtype)) if use_bias else None

    def _bias(self):
        return None if self.bias is None else self.bias[...]


class Conv2D(_ConvBase):
    """2-D convolution over NHWC images, Keras `Conv2D` defaults, computed by `ops.conv2d`.

    `y = activation(conv2d(x, kernel) + bias)` with an HWIO kernel `(KH, KW, C_in, C_out)`.

    Args:
      in_features: C_in, channels of the input.
      out_features: C_out, number of filters.
      kernel_size: int or `(KH, KW)`.
      strides: int or `(sh, sw)`.
      padding: `"valid"` or `"same"` (Keras/TensorFlow: the extra pixel at the bottom/right),
        or explicit numbers as in PyTorch (see `ops.conv2d`).
      dilation: int or `(dh, dw)`.
      activation: None (linear), `"relu"`, `"sigmoid"`, `"tanh"`, `"softmax"` or a callable.
      use_bias: whether to add a `(C_out,)` bias.
      kernel_init, bias_init: `(key, shape, dtype) -> array`; Keras's glorot-uniform and zeros.
      dtype: parameter dtype.
      rngs: `nnx.Rngs` with a `params` stream.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import Conv2D
      >>> layer = Conv2D(1, 32, 3, padding="same", activation="relu", rngs=nnx.Rngs(0))
      >>> layer.kernel.shape, layer(jnp.ones((8, 28, 28, 1))).shape
      ((3, 3, 1, 32), (8, 28, 28, 32))
    """

    _name = "Conv2D"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | tuple[int, int],
        *,
        strides: int | tuple[int, int] = 1,
        padding="valid",
        dilation: int | tuple[int, int] = 1,
        activation: Activation = None,
        use_bias: bool = True,
        kernel_init: Callable = default_kernel_init,
        bias_init: Callable = default_bias_init,
        dtype=jax.numpy.float32,
        rngs: nnx.Rngs,
    ):
        self._configure(2, in_features, out_features, kernel_size, strides, dilation, padding, activation)
        shape = (*self.kernel_size, in_features, out_features)
        self._init_params(shape, out_features, use_bias, kernel_init, bias_init, dtype, rngs)

    def __call__(self, x):
        """`(N, H, W, C_in) -> (N, H', W', C_out)`."""
        return self.activation(self.add_bias(self.linear_part(x)))

    def linear_part(self, x):
        """The convolution alone, without bias or activation: `(N, H, W, C_in) -> (N, H', W', C_out)`."""
        check_channels(self._name, x, self.in_features)
        return ops.conv2d(x, self.kernel[...], stride=self.strides, padding=self.padding, dilation=self.dilation)

    def add_bias(self, y):
        """`y + bias` over the last axis (`y` unchanged without a bias)."""
        return add_bias(y, self._bias())


class Conv1D(_ConvBase):
    """1-D convolution over NLC signals, Keras `Conv1D` defaults, computed by `ops.conv1d`.

    Kernel `(K, C_in, C_out)`. Arguments as `Conv2D`, with ints for sizes.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import Conv1D
      >>> layer = Conv1D(3, 8, 5, padding="same", rngs=nnx.Rngs(0))
      >>> layer.kernel.shape, layer(jnp.ones((2, 100, 3))).shape
      ((5, 3, 8), (2, 100, 8))
    """

    _name = "Conv1D"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        *,
        strides: int = 1,
        padding="valid",
        dilation: int = 1,
        activation: Activation = None,
        use_bias: bool = True,
        kernel_init: Callable = default_kernel_init,
        bias_init: Callable = default_bias_init,
        dtype=jax.numpy.float32,
        rngs: nnx.Rngs,
    ):
        self._configure(1, in_features, out_features, kernel_size, strides, dilation, padding, activation)
        shape = (self.kernel_size, in_features, out_features)
        self._init_params(shape, out_features, use_bias, kernel_init, bias_init, dtype, rngs)

    def __call__(self, x):
        """`(N, L, C_in) -> (N, L', C_out)`."""
        check_channels(self._name, x, self.in_features)
        y = ops.conv1d(
            x, self.kernel[...], self._bias(), stride=self.strides, padding=self.padding, dilation=self.dilation
        )
        return self.activation(y)


class Conv2DTranspose(_ConvBase):
    """Transposed 2-D convolution, Keras `Conv2DTranspose` layout and output sizes.

    The kernel is stored `(KH, KW, C_out, C_in)`, as Keras stores it, so that the layer is
    the adjoint of a `Conv2D` with that kernel (`ops.conv2d_transpose`). Output size:
    `"same"` gives `H * stride`; `"valid"` gives `(H - 1) * stride + max(KH_eff, stride)`;
    `output_padding` overrides the extra rows as in Keras; explicit numbers follow PyTorch's
    `ConvTranspose2d`.

    Args:
      in_features: C_in.
      out_features: C_out.
      kernel_size, strides, padding, dilation, activation, use_bias, kernel_init,
        bias_init, dtype, rngs: as `Conv2D`.
      output_padding: None, int or `(ph, pw)`, each smaller than the stride.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import Conv2DTranspose
      >>> layer = Conv2DTranspose(64, 32, 3, strides=2, padding="same", rngs=nnx.Rngs(0))
      >>> layer.kernel.shape, layer(jnp.ones((8, 7, 7, 64))).shape
      ((3, 3, 32, 64), (8, 14, 14, 32))
    """

    _name = "Conv2DTranspose"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | tuple[int, int],
        *,
        strides: int | tuple[int, int] = 1,
        padding="valid",
        output_padding: int | tuple[int, int] | None = None,
        dilation: int | tuple[int, int] = 1,
        activation: Activation = None,
        use_bias: bool = True,
        kernel_init: Callable = default_kernel_init,
        bias_init: Callable = default_bias_init,
        dtype=jax.numpy.float32,
        rngs: nnx.Rngs,
    ):
        self._configure(2, in_features, out_features, kernel_size, strides, dilation, padding, activation)
        self.output_padding = output_padding
        shape = (*self.kernel_size, out_features, in_features)
        self._init_params(shape, out_features, use_bias, kernel_init, bias_init, dtype, rngs)

    def __call__(self, x):
        """`(N, H, W, C_in) -> (N, H', W', C_out)`."""
        check_channels(self._name, x, self.in_features)
        y = ops.conv2d_transpose(
            x,
            self.kernel[...],
            self._bias(),
            stride=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            dilation=self.dilation,
        )
        return self.activation(y)
