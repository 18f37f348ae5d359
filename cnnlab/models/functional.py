"""Pure-function forward passes on plain pytrees of arrays, written directly with `cnnlab.ops`.

For `jax.jit`/`jax.vmap`/`jax.grad` over parameters as data: many parameter sets at once
(`vmap` over stacked params), latent-space sweeps, or use outside NNX. `*_params(model)`
takes the arrays out of an NNX model; `*_apply` computes what the model computes.

ConvAutoencoder params: `{"encoder": {"conv1": {"kernel", "bias"}, ..., "conv3": ...},
"decoder": {"conv1": ..., "conv4": ...}}`, kernels HWIO. NoiseToDigit params:
`{"dense": {"kernel", "bias", "bn": {"scale", "bias", "mean", "var"}}, "up1": {...},
"up2": {...}, "out": {"kernel", "bias"}}`; its apply runs batch norm in inference mode
(moving statistics), so it is a fixed function of `z`.

Example:
  >>> import jax
  >>> import jax.numpy as jnp
  >>> from flax import nnx
  >>> from cnnlab.models import ConvAutoencoder, conv_autoencoder_params, decoder_apply, encoder_apply
  >>> p = conv_autoencoder_params(ConvAutoencoder(rngs=nnx.Rngs(0)))
  >>> z = jax.jit(encoder_apply)(p, jnp.ones((8, 28, 28, 1)))
  >>> z.shape
  (8, 4, 4, 8)
  >>> decoder_apply(p, z).shape
  (8, 28, 28, 1)
"""

import jax
import jax.numpy as jnp

from cnnlab import nn, ops
from cnnlab.models.autoencoders import ConvAutoencoder
from cnnlab.models.generators import NoiseToDigit

__all__ = [
    "conv_autoencoder_params",
    "decoder_apply",
    "encoder_apply",
    "noise_to_digit_apply",
    "noise_to_digit_params",
    "stack_params",
]

Params = dict


def _arrays(layer, names) -> dict:
    return {n: jnp.asarray(getattr(layer, n)[...]) for n in names}


def _check_input(fn: str, name: str, x, trailing: tuple[int, ...]):
    """`x` must be `(N, *trailing)` (under `vmap`, per mapped slice)."""
    if not hasattr(x, "shape") or x.ndim != len(trailing) + 1 or tuple(x.shape[1:]) != trailing:
        got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{fn}: {name} must have shape (N, {', '.join(map(str, trailing))}), got {got}")


def conv_autoencoder_params(model: ConvAutoencoder) -> Params:
    """The arrays of a `ConvAutoencoder` as a plain nested dict (see the module docstring)."""
    if not isinstance(model, ConvAutoencoder):
        raise TypeError(f"conv_autoencoder_params: model must be a ConvAutoencoder, got {type(model).__name__}")
    out = {}
    for part in ("encoder", "decoder"):
        convs = [m for m in nn.layers_in_order(getattr(model, part)) if isinstance(m, nn.Conv2D)]
        out[part] = {f"conv{i + 1}": _arrays(c, ("kernel", "bias")) for i, c in enumerate(convs)}
    return out


def _conv(p, x, activation, padding="SAME"):
    return activation(ops.conv2d(x, p["kernel"], p["bias"], padding=padding))


def encoder_apply(params: Params, x):
    """`ConvAutoencoder.encode` as a pure function: `(N, 28, 28, 1) -> (N, 4, 4, 8)`.

    `(N,28,28,1) -conv 16 relu-> -max2 same-> (N,14,14,16) -conv 8 relu-> -max2 same-> (N,7,7,8)
    -conv 8 relu-> -max2 same-> (N,4,4,8)`.

    Args:
      params: from `conv_autoencoder_params` (only `params["encoder"]` is read).
      x: `(N, 28, 28, 1)` floats in [0, 1].
    """
    _check_input("encoder_apply", "x", x, (28, 28, 1))
    p = params["encoder"]
    for name in ("conv1", "conv2", "conv3"):
        x = ops.max_pool2d(_conv(p[name], x, ops.relu), 2, padding="SAME")
    return x


def decoder_apply(params: Params, z):
    """`ConvAutoencoder.decode` as a pure function: `(N, 4, 4, 8) -> (N, 28, 28, 1)`.

    `(N,4,4,8) -conv 8 relu, up2-> (N,8,8,8) -conv 8 relu, up2-> (N,16,16,8)
    -conv 16 valid relu, up2-> (N,28,28,16) -conv 1 sigmoid-> (N,28,28,1)`.

    Args:
      params: from `conv_autoencoder_params` (only `params["decoder"]` is read).
      z: `(N, 4, 4, 8)` codes.
    """
    _check_input("decoder_apply", "z", z, (4, 4, 8))
    p = params["decoder"]
    z = ops.upsample2d(_conv(p["conv1"], z, ops.relu), 2)
    z = ops.upsample2d(_conv(p["conv2"], z, ops.relu), 2)
    z = ops.upsample2d(_conv(p["conv3"], z, ops.relu, padding="VALID"), 2)
    return _conv(p["conv4"], z, ops.sigmoid)


def noise_to_digit_params(model: NoiseToDigit) -> Params:
    """The arrays of a `NoiseToDigit` (weights and batch-norm moving statistics) as a plain dict."""
    if not isinstance(model, NoiseToDigit):
        raise TypeError(f"noise_to_digit_params: model must be a NoiseToDigit, got {type(model).__name__}")
    blocks = [m for m in model.decoder if isinstance(m, nn.BatchNormalized)]
    out = {}
    for name, block in zip(("dense", "up1", "up2"), blocks, strict=True):
        out[name] = _arrays(block.layer, ("kernel", "bias"))
        out[name]["bn"] = _arrays(block.norm, ("scale", "bias", "mean", "var"))
    out["out"] = _arrays(model.decoder[-1], ("kernel", "bias"))
    return out


def _bn_relu(p, y):
    bn = p["bn"]
    # epsilon is nn.BatchNorm's default, which NoiseToDigit uses.
    y, _, _ = ops.batch_norm(y, bn["scale"], bn["bias"], bn["mean"], bn["var"], training=False, epsilon=1e-3)
    return ops.relu(y)


def noise_to_digit_apply(params: Params, z):
    """`NoiseToDigit` in evaluation mode as a pure function: `(N, noise_dim) -> (N, 28, 28, 1)`.

    `(N,noise) -dense, bn, relu-> (N,3136) -reshape-> (N,7,7,64) -convT3 s2 same, bn, relu->
    (N,14,14,64) -convT3 s2 same, bn, relu-> (N,28,28,32) -conv3 same sigmoid-> (N,28,28,1)`.
    """
    noise_dim = params["dense"]["kernel"].shape[0]
    _check_input("noise_to_digit_apply", "z", z, (noise_dim,))
    p = params
    y = _bn_relu(p["dense"], ops.dense(z, p["dense"]["kernel"], p["dense"]["bias"]))
    y = jnp.reshape(y, (z.shape[0], 7, 7, 64))
    for name in ("up1", "up2"):
        y = ops.conv2d_transpose(y, p[name]["kernel"], p[name]["bias"], stride=2, padding="SAME")
        y = _bn_relu(p[name], y)
    return ops.sigmoid(ops.conv2d(y, p["out"]["kernel"], p["out"]["bias"], padding="SAME"))


def stack_params(params_list: list[Params]) -> Params:
    """Stack parameter pytrees of one structure along a new leading axis, for `jax.vmap` over models:
    `jax.vmap(decoder_apply, in_axes=(0, None))(stack_params([p1, p2]), z)`."""
    if not params_list:
        raise ValueError("stack_params: params_list must hold at least one parameter pytree, got none")
    return jax.tree.map(lambda *a: jnp.stack(a), *params_list)
