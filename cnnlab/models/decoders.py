"""Every model's decoder (and encoder) as a pure function of ``(params, z)``: `decoder`, `encoder`.

``decode, params = decoder(model)`` takes any NNX module with a ``decode`` method (every
autoencoder in `cnnlab.models`, `NoiseToDigit`, or your own) and returns

- ``params``: the model's arrays (``nnx.Param`` weights, ``nnx.BatchStat`` moving statistics,
  and any other state) as a plain nested dict, ``nnx.to_pure_dict`` of its ``nnx.split``
  state, keyed by attribute path (``params["decoder"]["layers"][0]["layer"]["kernel"]``);
- ``decode(params, z)``: ``model.decode(z)`` in evaluation mode, computed from ``params`` only.

The graph (the model's structure and static attributes) is closed over, so ``decode`` is a
function of arrays: ``jax.jit(decode)``, ``jax.grad``, ``jax.vmap(decode, in_axes=(None, 0))``
over batches of codes and ``jax.vmap(decode, in_axes=(0, None))`` over parameter sets stacked
on a leading axis (`stack_params`, or ``jax.tree.map(lambda *a: jnp.stack(a), p1, p2)``) all
work. It is built from a copy of the model switched to evaluation mode (``.eval()``: batch
norm normalizes with its moving statistics, dropout is off), so the output does not depend on
the other codes of the batch, and it never touches the model it came from: later training of
the model does not change ``params`` or ``decode``; call `decoder` again for new weights.
``params`` holds the whole model (an autoencoder's encoder too; XLA drops what ``decode``
does not read), so `encoder` of the same model returns an equal dict. Two models of one
architecture and configuration get the same ``decode`` object, so a jitted ``decode``
compiles once for both.

`decode` does not check its inputs beyond what the model's layers check. The hand-written
`functional.decoder_apply` and `functional.noise_to_digit_apply` compute the same functions
from ``cnnlab.ops`` on their own parameter dicts.

Example:
  >>> import jax
  >>> import jax.numpy as jnp
  >>> from flax import nnx
  >>> from cnnlab.models import StridedAutoencoder, decoder, stack_params
  >>> decode, params = decoder(StridedAutoencoder(rngs=nnx.Rngs(0)))
  >>> jax.jit(decode)(params, jnp.zeros((5, 2))).shape
  (5, 28, 28, 1)
  >>> grids = jnp.zeros((3, 4, 2))  # 3 batches of 4 codes
  >>> jax.jit(jax.vmap(decode, in_axes=(None, 0)))(params, grids).shape
  (3, 4, 28, 28, 1)
  >>> _, other = decoder(StridedAutoencoder(rngs=nnx.Rngs(1)))
  >>> jax.jit(jax.vmap(decode, in_axes=(0, None)))(stack_params([params, other]), jnp.zeros((4, 2))).shape
  (2, 4, 28, 28, 1)
"""

import functools
from collections.abc import Callable

from flax import nnx

__all__ = ["decoder", "encoder"]

Params = dict


@functools.lru_cache(maxsize=256)
def _method_of(graphdef, method: str) -> Callable:
    """The pure ``(params, x) -> nnx.merge(graphdef, params).<method>(x)``, one per graph and method."""

    def apply(params: Params, x):
        return getattr(nnx.merge(graphdef, params), method)(x)

    apply.__name__ = apply.__qualname__ = method
    apply.__doc__ = f"``model.{method}(x)`` in evaluation mode as a pure function of ``(params, x)``."
    return apply


def _pure(fn: str, model: nnx.Module, method: str, what: str) -> tuple[Callable, Params]:
    if not isinstance(model, nnx.Module) or not callable(getattr(model, method, None)):
        raise TypeError(
            f"{fn}: {type(model).__name__} has no {method}() method; {fn}() takes {what} "
            f"(an nnx.Module with {method}(), e.g. cnnlab.models.ConvAutoencoder)"
        )
    frozen = nnx.clone(model)  # eval() on a copy: the caller's model keeps its mode
    frozen.eval()
    graphdef, state = nnx.split(frozen)
    return _method_of(graphdef, method), nnx.to_pure_dict(state)


def decoder(model: nnx.Module) -> tuple[Callable, Params]:
    """``model.decode`` in evaluation mode as a pure function: ``decode, params = decoder(model)``.

    Args:
      model: an NNX module with a ``decode`` method: `ConvAutoencoder`, `StridedAutoencoder`,
        `DenoisingAutoencoder`, `LeNetAutoencoder`, `WideLeNetAutoencoder`, `NoiseToDigit`, ...

    Returns:
      ``(decode, params)``: ``decode(params, z)`` equals ``model.decode(z)`` with the model in
      evaluation mode; ``params`` is a nested dict of the model's arrays (module docstring).

    Raises:
      TypeError: the model has no ``decode`` method (a classifier, `Segmenter`); the message
        names its class.
    """
    return _pure("decoder", model, "decode", "an autoencoder or a generator")


def encoder(model: nnx.Module) -> tuple[Callable, Params]:
    """``model.encode`` in evaluation mode as a pure function: ``encode, params = encoder(model)``.

    Like `decoder`: ``encode(params, x)`` equals ``model.encode(x)`` with the model in
    evaluation mode, and ``params`` equals `decoder`'s for the same model.

    Raises:
      TypeError: the model has no ``encode`` method (e.g. `NoiseToDigit`, a classifier).
    """
    return _pure("encoder", model, "encode", "an autoencoder")
