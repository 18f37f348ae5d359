"""Small NNX test models, built from flax's own layers and cnnlab.ops (not cnnlab.nn)."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnlab import ops


class Softmax(nnx.Module):
    """Multinomial logistic regression: flatten, then one dense layer. (N, H, W, C) -> (N, K)."""

    def __init__(self, features: int, classes: int, *, rngs: nnx.Rngs):
        self.dense = nnx.Linear(features, classes, rngs=rngs)

    def __call__(self, x):
        return self.dense(ops.flatten(x))


class SmallCNN(nnx.Module):
    """(N,8,8,1) -conv3 same-> (N,8,8,4) -BN-relu-pool2-> (N,4,4,4) -dropout-> (N,64) -> (N,K)."""

    def __init__(self, classes: int = 3, *, dropout: float = 0.3, rngs: nnx.Rngs):
        # No bias: BatchNorm follows, so a bias would only learn rounding noise.
        self.conv = nnx.Conv(1, 4, (3, 3), use_bias=False, rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.dense = nnx.Linear(64, classes, rngs=rngs)

    def __call__(self, x):
        h = ops.max_pool2d(ops.relu(self.bn(self.conv(x))), window=2)
        return self.dense(self.drop(ops.flatten(h)))


class TinyAE(nnx.Module):
    """(N,8,8,1) -> 16 relu -> 64 sigmoid -> (N,8,8,1): a dense autoencoder."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.enc = nnx.Linear(64, 16, rngs=rngs)
        self.dec = nnx.Linear(16, 64, rngs=rngs)

    def __call__(self, x):
        return ops.sigmoid(self.dec(ops.relu(self.enc(ops.flatten(x))))).reshape(x.shape)


def blobs(n: int = 96, classes: int = 3, seed: int = 0):
    """Learnable uint8 (n, 8, 8, 1) images: class k is bright in band k, plus noise; int32 labels."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % classes).astype(np.int32)
    rng.shuffle(y)
    x = rng.integers(0, 90, (n, 8, 8, 1))
    for k in range(classes):
        x[y == k, :, 2 * k : 2 * k + 3, :] += 150
    return np.clip(x, 0, 255).astype(np.uint8), y


def differing_leaves(a, b) -> list[str]:
    """Paths of the leaves where two pytrees (NNX states) differ bit for bit; [] when equal."""
    fa, ta = jax.tree_util.tree_flatten_with_path(a)
    fb, tb = jax.tree_util.tree_flatten_with_path(b)
    if ta != tb:
        return [f"structure: {ta} vs {tb}"]
    out = []
    for (path, va), (_, vb) in zip(fa, fb):
        if jax.dtypes.issubdtype(va.dtype, jax.dtypes.prng_key):
            va, vb = jax.random.key_data(va), jax.random.key_data(vb)
        if not np.array_equal(np.asarray(va), np.asarray(vb)):
            out.append(jax.tree_util.keystr(path))
    return out


def f32(x):
    return jnp.asarray(x, jnp.float32)
