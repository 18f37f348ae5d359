"""Run Keras 3 layers (JAX backend) as oracles for `cnnlab.ops`.

Keras is the reference for our semantics (SAME padding, transposed-conv output sizes,
average pooling that excludes padding, bilinear upsampling, batch-norm momentum), so the
oracle is the public Keras layer with our weights copied in, not a re-derivation of it.
"""

import contextlib
import os

# Keras reads the backend once, at its first import; conftest sets it too, but this module
# may be imported first.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import numpy as np

if keras.backend.backend() != "jax":
    raise RuntimeError(f"the Keras oracle needs KERAS_BACKEND=jax; Keras is running on {keras.backend.backend()!r}")


@contextlib.contextmanager
def keras_numerics():
    """Run Keras code under JAX's default promotion rules.

    Our conftest makes rank promotion raise and dtype promotion strict, to catch our own
    ops broadcasting or casting by accident. Keras's internals rely on both: `Dense.call`
    adds a `(units,)` bias to `(N, units)` outputs by rank promotion, and its losses and
    layers mix Python floats and weakly typed scalars with arrays. Only the oracle runs
    under these rules; the op under test still runs under the strict ones.
    """
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield


def randn(rng: np.random.Generator, shape, dtype=np.float32, scale=1.0) -> np.ndarray:
    """Standard-normal array (times `scale`) of `shape`, cast to `dtype`."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


def constant(value):
    """A Keras initializer that returns `value`, our weight, checked against the shape asked for.

    Copies our weights into a layer while it builds. Building with Keras's default random
    initializers and then calling `set_weights` compiles the initializers for every new
    shape and costs about 0.7 s per layer on CPU; this costs nothing.
    """
    value = np.asarray(value)

    def initializer(shape, dtype=None):
        if tuple(shape) != value.shape:
            raise ValueError(f"layer asks for a weight of shape {tuple(shape)}, we hold {value.shape}")
        return value

    return initializer


def built(layer, input_shape, weights=()):
    """Build `layer` for `input_shape`; check that its weights are `weights`, in order.

    The weights go in through `constant` initializers given to the layer's constructor;
    the check makes sure that the layer really holds them (and nothing more).
    """
    with keras_numerics():
        layer.build(tuple(input_shape))
    held = [np.asarray(v.value).astype(np.float32) for v in layer.weights]
    ours = [np.asarray(w).astype(np.float32) for w in weights]
    if len(held) != len(ours) or not all(np.array_equal(h, w) for h, w in zip(held, ours)):
        raise AssertionError(f"{layer.name} does not hold the weights it was given")
    return layer


def keras_forward(layer, x, **call_kwargs) -> np.ndarray:
    """`layer(x, **call_kwargs)` through the ordinary (stateful) Keras call."""
    with keras_numerics():
        return np.asarray(layer(x, **call_kwargs))


def keras_grads(layer, x, cotangent, **call_kwargs):
    """Gradients of `<layer(x), cotangent>` w.r.t. x and each trainable variable.

    Goes through `layer.stateless_call`, the functional entry point Keras 3 offers on JAX,
    with the layer's current variable values, under `jax.jit` (eager differentiation
    compiles every primitive separately and costs several times as much). Returns
    `(dx, [d trainable...])`, the trainable gradients in `layer.trainable_variables` order.
    """
    trainable = [jnp.asarray(v.value) for v in layer.trainable_variables]
    non_trainable = [jnp.asarray(v.value) for v in layer.non_trainable_variables]

    def loss(x, trainable):
        y, _ = layer.stateless_call(trainable, non_trainable, x, **call_kwargs)
        return jnp.sum(y * cotangent)

    with keras_numerics():
        dx, dw = jax.jit(jax.grad(loss, argnums=(0, 1)))(jnp.asarray(x), trainable)
    return np.asarray(dx), [np.asarray(d) for d in dw]


def our_grads(fn, args, cotangent):
    """Gradients of `<fn(*args), cotangent>` w.r.t. every positional argument, under jit."""

    def loss(*a):
        return jnp.sum(fn(*a) * cotangent)

    grads = jax.jit(jax.grad(loss, argnums=tuple(range(len(args)))))(*args)
    return [np.asarray(g) for g in grads]
