"""recompute_batch_stats against a NumPy reimplementation of training-mode batch norm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import data, models, nn, train

EPS = 1e-3


def _two_bn_model(seed=0):
    rngs = nnx.Rngs(seed)
    return nn.Sequential(
        nn.BatchNormalized(nn.Dense(5, 7, rngs=rngs), "relu", rngs=rngs),
        nn.BatchNormalized(nn.Dense(7, 3, rngs=rngs), None, rngs=rngs),
    )


def _numpy_stats(model, x, batches):
    """Global mean/var of each BN's input, with training-mode normalization inside each batch (float64)."""
    l1, l2 = model.layers[0], model.layers[1]
    w1, b1 = (np.asarray(a, np.float64) for a in (l1.layer.kernel[...], l1.layer.bias[...]))
    w2, b2 = (np.asarray(a, np.float64) for a in (l2.layer.kernel[...], l2.layer.bias[...]))
    g1, be1 = np.asarray(l1.norm.scale[...], np.float64), np.asarray(l1.norm.bias[...], np.float64)
    h1s, h2s = [], []
    for rows in batches:
        h1 = x[rows] @ w1 + b1
        z = (h1 - h1.mean(0)) / np.sqrt(h1.var(0) + EPS) * g1 + be1
        h2 = np.maximum(z, 0) @ w2 + b2
        h1s.append(h1)
        h2s.append(h2)
    h1, h2 = np.concatenate(h1s), np.concatenate(h2s)
    return [(h1.mean(0), h1.var(0)), (h2.mean(0), h2.var(0))]


def _perturb(model, seed):
    """Random parameters and moving statistics far from anything the data gives."""
    rng = np.random.default_rng(seed)
    state = nnx.state(model)
    leaves, tree = jax.tree.flatten(state)
    nnx.update(
        model, jax.tree.unflatten(tree, [jnp.asarray(rng.normal(3, 2, np.shape(a)), jnp.float32) for a in leaves])
    )


def test_matches_numpy_over_shuffled_batches():
    model = _two_bn_model()
    _perturb(model, 1)
    params_before = jax.tree.map(np.asarray, nnx.state(model, nnx.Param))
    x = np.random.default_rng(2).normal(1.5, 2.0, (50, 5)).astype(np.float32)
    train.recompute_batch_stats(model, x, batch_size=8, seed=3)
    # the batches the function uses: the seeded shuffle, the last partial batch dropped
    idx, _ = data.epoch_indices(jax.random.key(3), 50, batch_size=8, remainder="drop")
    idx = np.asarray(idx)
    assert idx.shape == (6, 8) and len(np.unique(idx)) == 48
    want = _numpy_stats(model, x.astype(np.float64), idx)
    for layer, (mean, var) in zip(model.layers, want, strict=True):
        np.testing.assert_allclose(layer.norm.mean[...], mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layer.norm.var[...], var, rtol=1e-5, atol=1e-5)
    # parameters untouched, momentum restored, evaluation mode
    jax.tree.map(np.testing.assert_array_equal, params_before, jax.tree.map(np.asarray, nnx.state(model, nnx.Param)))
    assert all(layer.norm.momentum == 0.99 and layer.norm.use_running_average for layer in model.layers)


def test_one_batch_of_everything_gives_the_plain_statistics():
    model = _two_bn_model(4)
    _perturb(model, 5)
    x = np.random.default_rng(6).normal(0.0, 1.0, (40, 5)).astype(np.float32)
    train.recompute_batch_stats(model, x, batch_size=40)
    (m1, v1), _ = _numpy_stats(model, x.astype(np.float64), [np.arange(40)])
    np.testing.assert_allclose(model.layers[0].norm.mean[...], m1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.layers[0].norm.var[...], v1, rtol=1e-5, atol=1e-5)
    # eval mode now normalizes the training batch exactly as training mode does
    model.eval()
    out_eval = np.asarray(model(jnp.asarray(x)))
    model.train()
    out_train = np.asarray(model(jnp.asarray(x)))
    model.eval()
    np.testing.assert_allclose(out_eval, out_train, rtol=1e-4, atol=1e-4)


def test_large_mean_channel_stays_exact():
    """A channel with mean 1e4 and std 1e-2: pooled from batch moments, not E[x^2] - E[x]^2."""
    rngs = nnx.Rngs(0)
    model = nn.Sequential(nn.BatchNorm(2, rngs=rngs))
    rng = np.random.default_rng(7)
    x = np.stack([1e4 + 1e-2 * rng.normal(size=64), rng.normal(size=64)], 1).astype(np.float32)
    train.recompute_batch_stats(model, x, batch_size=16)
    x64 = x.astype(np.float64)
    # float32 batch means of 1e4 carry ~5e-4 of rounding: 1% of this variance, where
    # E[x^2] - E[x]^2 in float32 (ulp of 1e8 is 8) would be off by orders of magnitude
    np.testing.assert_allclose(model.layers[0].var[...], x64.var(0), rtol=1e-2)
    np.testing.assert_allclose(model.layers[0].mean[...], x64.mean(0), rtol=1e-6)


def test_uint8_images_are_scaled_like_fit():
    rngs = nnx.Rngs(0)
    model = nn.Sequential(nn.BatchNormalized(nn.Conv2D(1, 2, 3, padding="same", rngs=rngs), "relu", rngs=rngs))
    images = np.random.default_rng(8).integers(0, 256, (12, 6, 6, 1), dtype=np.uint8)
    ds = data.Dataset(images, np.zeros(12, np.int32), ("a",), "test")
    train.recompute_batch_stats(model, ds, batch_size=12)
    conv = (
        jax.lax.conv_general_dilated(
            jnp.asarray(images, jnp.float32) / 255,
            model.layers[0].layer.kernel[...],
            (1, 1),
            "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        + model.layers[0].layer.bias[...][None, None, None, :]
    )
    c = np.asarray(conv, np.float64).reshape(-1, 2)
    np.testing.assert_allclose(model.layers[0].norm.mean[...], c.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.layers[0].norm.var[...], c.var(0), rtol=1e-4, atol=1e-6)


def test_fixes_the_lag_of_moving_statistics_after_training():
    """After a short run at momentum 0.99 the moving statistics lag; recomputed ones match training mode."""
    rngs = nnx.Rngs(0)
    model = nn.Sequential(
        nn.BatchNormalized(nn.Conv2D(1, 8, 3, rngs=rngs), "relu", rngs=rngs),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Dense(13 * 13 * 8, 10, rngs=rngs),
    )
    digits = data.load("mnist", "test")
    rows = np.random.default_rng(0).permutation(len(digits))[:256]
    x, y = digits.images[rows], digits.labels[rows]
    train.fit(model, (x, y), loss="softmax_cross_entropy", optimizer="adam", epochs=1, batch_size=32, verbose=False)
    norms = [m for _, m in nnx.iter_graph(model) if isinstance(m, nn.BatchNorm)]
    lagging = [np.asarray(bn.mean[...]).copy() for bn in norms]
    train.recompute_batch_stats(model, x, batch_size=256)
    first, conv = norms[0], model.layers[0].layer  # a VALID 3x3 convolution, then BN
    assert conv.padding == "VALID"
    h = (
        jax.lax.conv_general_dilated(
            jnp.asarray(x, jnp.float32) / 255,
            conv.kernel[...],
            (1, 1),
            "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        + conv.bias[...][None, None, None, :]
    )
    np.testing.assert_allclose(
        first.mean[...], np.asarray(h).reshape(-1, h.shape[-1]).mean(0), atol=3e-4
    )  # float32 sums of 173k
    assert not np.allclose(lagging[0], first.mean[...], atol=1e-3)  # it was lagging before


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="recompute_batch_stats: MnistCNN holds no cnnlab.nn.BatchNorm"):
        train.recompute_batch_stats(models.MnistCNN(rngs=nnx.Rngs(0)), np.zeros((4, 28, 28, 1), np.float32))
    model = _two_bn_model()
    with pytest.raises(TypeError, match="inputs must be an array"):
        train.recompute_batch_stats(model, [1, 2, 3])
    with pytest.raises(ValueError, match="batch_size"):
        train.recompute_batch_stats(model, np.zeros((4, 5), np.float32), batch_size=5)
    with pytest.raises(ValueError, match="batch_size"):
        train.recompute_batch_stats(model, np.zeros((4, 5), np.float32), batch_size=0)
    assert model.layers[0].norm.momentum == 0.99
