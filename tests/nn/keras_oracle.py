"""Keras 3 (JAX backend) as the oracle for `cnnlab.nn` layers and `cnnlab.models`.

Our layers follow Keras's semantics and defaults, so the oracle is the public Keras layer
holding our weights. Weights go in as constant initializers (building with Keras's random
initializers and then `set_weights` compiles the initializers for every shape).
"""

import contextlib
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import keras
import numpy as np
from flax import nnx

if keras.backend.backend() != "jax":
    raise RuntimeError(f"the Keras oracle needs KERAS_BACKEND=jax, Keras runs on {keras.backend.backend()!r}")


@contextlib.contextmanager
def keras_numerics():
    """Keras's internals broadcast a `(units,)` bias by rank promotion and mix weak scalars
    with arrays; conftest forbids both for our code. Only the oracle runs under JAX's defaults."""
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield


def constant(value):
    """A Keras initializer returning `value`, checked against the shape Keras asks for."""
    value = np.asarray(value)

    def initializer(shape, dtype=None):
        if tuple(shape) != value.shape:
            raise ValueError(f"Keras asks for a weight of shape {tuple(shape)}, we hold {value.shape}")
        return value

    return initializer


def inits(layer) -> dict:
    """Keras constructor keywords that make a Keras layer hold the weights of our `layer`."""
    kw = {}
    if hasattr(layer, "kernel"):
        kw["kernel_initializer"] = constant(layer.kernel[...])
        if layer.bias is not None:
            kw["bias_initializer"] = constant(layer.bias[...])
    else:  # BatchNorm
        if layer.scale is not None:
            kw["gamma_initializer"] = constant(layer.scale[...])
        if layer.bias is not None:
            kw["beta_initializer"] = constant(layer.bias[...])
        kw["moving_mean_initializer"] = constant(layer.mean[...])
        kw["moving_variance_initializer"] = constant(layer.var[...])
    return kw


def keras_call(layer, x, **kwargs) -> np.ndarray:
    """`layer(x)` through the ordinary stateful Keras call, under JAX's default promotion."""
    with keras_numerics():
        return np.asarray(layer(np.asarray(x), **kwargs))


@nnx.jit
def ours(module, x):
    """Our module's forward pass, compiled (and its state updates written back)."""
    return module(x)


def randomize(module, seed: int = 0, scale: float = 0.5):
    """Give every parameter and statistic random normal values times `scale` (zero biases test nothing).

    Kernels keep their glorot-uniform values when `scale` is None. Variances are made
    positive. Returns `module` for chaining.
    """
    rng = np.random.default_rng(seed)
    for path, var in nnx.iter_graph(module):
        if scale is None and path and path[-1] == "kernel":
            continue
        if isinstance(var, nnx.Param | nnx.BatchStat):
            v = rng.standard_normal(var.shape).astype(np.float32) * (scale or 0.5)
            if path and path[-1] == "var":
                v = np.abs(v) + 0.5
            var[...] = v
    return module
