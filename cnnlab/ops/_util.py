"""Argument normalisation and checks shared by the operators.

Every public op normalises its static arguments once, at the top, with these
helpers, so that errors read the same everywhere: the op, the argument, what it
got, and what it needs. All checks run at trace time, on shapes and Python
values, so they cost nothing under `jax.jit`.
"""

import math
import operator
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Pads = tuple[tuple[int, int], ...]


def _is_int(v) -> bool:
    """True for Python/NumPy integers, False for bools and everything else."""
    if isinstance(v, bool | np.bool_):
        return False
    try:
        operator.index(v)
    except TypeError:
        return False
    return True


def ntuple(op: str, name: str, value, n: int, *, minimum: int = 1) -> tuple[int, ...]:
    """`int | (int,)*n -> (int,)*n`, each at least `minimum`, else ValueError/TypeError."""
    if _is_int(value):
        values = (operator.index(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == n:
        if not all(_is_int(v) for v in value):
            raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
        values = tuple(operator.index(v) for v in value)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum} in every dimension, got {value!r}")
    return values


def check_array(op: str, name: str, x, rank: int, layout: str):
    """Check that `x` is a floating array of the given rank; return it as a jax array."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{op}: {name} must be an array, got {type(x).__name__}")
    if x.ndim != rank:
        raise ValueError(f"{op}: {name} must have rank {rank} {layout}, got shape {tuple(x.shape)} (rank {x.ndim})")
    check_float(op, name, x)
    return jnp.asarray(x)


def check_float(op: str, name: str, x) -> None:
    """TypeError unless `x` has a floating dtype: integer images are never cast silently."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{op}: {name} must have a floating dtype, got {x.dtype}; "
            f"convert explicitly, e.g. {name}.astype(jnp.float32) / 255"
        )


def check_rate(op: str, rate) -> float:
    """A drop probability: any real scalar (Python, NumPy, 0-d NumPy array) in [0, 1), as a float.

    Bools, arrays and jax values (traced or not) are refused: the rate is static, it
    decides at trace time whether dropout happens at all.
    """
    if isinstance(rate, jax.Array):
        raise TypeError(
            f"{op}: rate must be a static Python or NumPy scalar, got a jax array {rate!r}; "
            f"the rate is fixed when the function is traced, so pass e.g. float(rate) outside jit"
        )
    if isinstance(rate, bool | np.bool_) or (isinstance(rate, np.ndarray) and rate.dtype == np.bool_):
        raise TypeError(f"{op}: rate must be a real number in [0, 1) (drop probability), got the bool {rate!r}")
    if isinstance(rate, np.ndarray):
        if rate.ndim != 0:
            raise TypeError(f"{op}: rate must be a scalar, got a NumPy array of shape {rate.shape}")
        rate = rate[()]
    if not isinstance(rate, int | float | np.integer | np.floating):
        raise TypeError(
            f"{op}: rate must be a real number in [0, 1) (drop probability), got {type(rate).__name__} {rate!r}"
        )
    if not 0 <= float(rate) < 1:  # NaN fails both comparisons
        raise ValueError(f"{op}: rate must be in [0, 1) (drop probability), got {float(rate)!r}")
    return float(rate)


def check_same_dtype(op: str, **arrays) -> None:
    """TypeError when the arrays (None skipped) do not share one dtype: no silent promotion."""
    named = [(k, v) for k, v in arrays.items() if v is not None]
    dtypes = {jnp.dtype(v.dtype) for _, v in named}
    if len(dtypes) > 1:
        got = ", ".join(f"{k} {v.dtype}" for k, v in named)
        raise TypeError(f"{op}: arrays must share one dtype, got {got}; cast one of them explicitly")


def check_bias(op: str, bias, channels: int, dtype):
    """`bias` must be None or a `(channels,)` array of `dtype`."""
    if bias is None:
        return None
    if not hasattr(bias, "shape") or tuple(bias.shape) != (channels,):
        shape = tuple(bias.shape) if hasattr(bias, "shape") else type(bias).__name__
        raise ValueError(f"{op}: bias must have shape ({channels},) (one per output channel), got {shape}")
    return jnp.asarray(bias)


def add_bias(y, bias):
    """`y + bias` along the last axis, with the broadcast written out (no rank promotion)."""
    if bias is None:
        return y
    return y + bias.reshape((1,) * (y.ndim - 1) + (bias.shape[0],))


def window_padding(
    op: str,
    padding,
    in_sizes: Sequence[int],
    windows: Sequence[int],
    strides: Sequence[int],
) -> Pads:
    """Resolve `padding` to explicit `((lo, hi), ...)` pads per spatial dimension.

    `windows` are effective (dilated) window sizes. "SAME" follows Keras/TensorFlow:
    output size `ceil(in / stride)`, the total padding split with the odd pixel at
    the high end (bottom/right). "VALID" pads nothing. An int pads every side by it;
    a tuple of ints pads each dimension symmetrically; a tuple of `(lo, hi)` pairs is
    explicit, as PyTorch means padding.
    """
    n = len(in_sizes)
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            pads = ((0, 0),) * n
        elif mode == "SAME":
            pads = []
            for size, k, s in zip(in_sizes, windows, strides):
                out = -(-size // s)
                total = max((out - 1) * s + k - size, 0)
                pads.append((total // 2, total - total // 2))
            pads = tuple(pads)
        else:
            raise ValueError(f'{op}: padding must be "SAME", "VALID", an int or pairs, got {padding!r}')
    else:
        pads = explicit_pads(op, padding, n)
    for size, k, (lo, hi), axis in zip(in_sizes, windows, pads, range(n)):
        if size + lo + hi < k:
            raise ValueError(
                f"{op}: window {k} (after dilation) is larger than the padded input "
                f"{size}+{lo}+{hi}={size + lo + hi} along spatial axis {axis}; "
                f'use a smaller window, more padding, or padding="SAME"'
            )
    return pads


def explicit_pads(op: str, padding, n: int, *, name: str = "padding") -> Pads:
    """int | (int,)*n | ((lo, hi),)*n -> ((lo, hi),)*n, all non-negative."""
    if _is_int(padding):
        pads = ((operator.index(padding),) * 2,) * n
    elif isinstance(padding, Sequence) and len(padding) == n and all(_is_int(p) for p in padding):
        pads = tuple((operator.index(p),) * 2 for p in padding)
    elif (
        isinstance(padding, Sequence)
        and len(padding) == n
        and all(isinstance(p, Sequence) and len(p) == 2 and all(_is_int(q) for q in p) for p in padding)
    ):
        pads = tuple((operator.index(lo), operator.index(hi)) for lo, hi in padding)
    elif n == 1 and isinstance(padding, Sequence) and len(padding) == 2 and all(_is_int(p) for p in padding):
        pads = ((operator.index(padding[0]), operator.index(padding[1])),)
    else:
        pairs = ", ".join(["(lo, hi)"] * n)
        raise TypeError(f'{op}: {name} must be "SAME", "VALID", an int, {n} ints, or ({pairs}), got {padding!r}')
    if any(p < 0 for pair in pads for p in pair):
        raise ValueError(f"{op}: {name} must be non-negative, got {padding!r}")
    return pads


def out_sizes(sizes: Sequence[int], windows: Sequence[int], strides: Sequence[int], pads: Pads) -> tuple[int, ...]:
    """Output length per axis of windows of effective (dilated) size `windows` sliding by
    `strides` over axes of `sizes` padded by `pads` (negative pads crop): the one formula
    `(n + lo + hi - k) // s + 1` behind every conv and pool."""
    return tuple((n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in zip(sizes, windows, strides, pads))


def prod(shape: Sequence[int]) -> int:
    """Product of a shape's dimensions (1 for the empty shape)."""
    return math.prod(shape)
