"""Pytree helpers for checkpoints: typed PRNG keys as plain data, abstract shapes, leaf paths,
shape/dtype differences in words, and checksums of the array data."""

import hashlib

import jax
import numpy as np

__all__ = ["abstract", "checksums", "data_to_keys", "differences", "flat", "keys_to_data"]


def is_key(x) -> bool:
    return isinstance(x, jax.Array | jax.ShapeDtypeStruct) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def keys_to_data(tree):
    """Typed PRNG keys -> their uint32 data (orbax stores plain arrays)."""

    def conv(x):
        if not is_key(x):
            return x
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.eval_shape(jax.random.key_data, x)
        return jax.random.key_data(x)

    return jax.tree.map(conv, tree)


def data_to_keys(tree, like):
    """Inverse of `keys_to_data`, taking each key's implementation from ``like``."""

    def conv(x, t):
        if not is_key(t):
            return x
        # An abstract key (nnx.eval_shape) carries no implementation: use the default one.
        impl = jax.random.key_impl(t) if isinstance(t, jax.Array) else None
        return jax.random.wrap_key_data(x, impl=impl)

    return jax.tree.map(conv, tree, like)


def abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), tree)


def flat(tree) -> dict[str, tuple]:
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = "/".join(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))) for p in path)
        out[name] = (tuple(leaf.shape), np.dtype(leaf.dtype).name)
    return out


def checksums(tree) -> dict[str, str]:
    """sha256 of every leaf's bytes, by path."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        jax.tree_util.keystr(p): hashlib.sha256(np.ascontiguousarray(np.asarray(v)).tobytes()).hexdigest()
        for p, v in leaves
    }


def differences(stored: dict, wanted: dict) -> list[str]:
    """What differs between two `flat` views: missing or extra leaves, other shapes or dtypes."""
    missing = sorted(set(wanted) - set(stored))
    extra = sorted(set(stored) - set(wanted))
    differ = [
        f"{k}: stored {stored[k][0]} {stored[k][1]}, needed {wanted[k][0]} {wanted[k][1]}"
        for k in sorted(set(stored) & set(wanted))
        if stored[k] != wanted[k]
    ]
    lines = []
    if missing:
        lines.append(f"missing from the checkpoint: {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    if extra:
        lines.append(f"not in the model: {extra[:8]}{' ...' if len(extra) > 8 else ''}")
    return lines + differ[:8]
