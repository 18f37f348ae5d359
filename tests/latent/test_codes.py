"""`encode`, `decode`, the interpolations and `latent_grid` against a linear autoencoder of known matrices.

`LinearAutoencoder` encodes ``x -> flatten(x) @ A`` and decodes ``z -> z @ B``, so every
result has a NumPy answer; the real models check shapes, evaluation mode and the issue's
requirement that interpolation endpoints decode to the endpoints' reconstructions.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import latent, models
from cnnlab.latent import codes

H, W, C = 6, 5, 1


class LinearAutoencoder(nnx.Module):
    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.a = nnx.Param(jnp.asarray(a, jnp.float32))  # (H*W*C, D)
        self.b = nnx.Param(jnp.asarray(b, jnp.float32))  # (D, H*W*C)
        self.latent_dim = a.shape[1]

    def encode(self, x):
        return x.reshape(x.shape[0], -1) @ self.a[...]

    def decode(self, z):
        return (z @ self.b[...]).reshape(z.shape[0], H, W, C)


def _model(d=3, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(H * W * C, d)) / np.sqrt(H * W * C)
    b = rng.normal(size=(d, H * W * C))
    return LinearAutoencoder(a, b), a, b


def _images(n, seed=1):
    return np.random.default_rng(seed).integers(0, 256, size=(n, H, W, C), dtype=np.uint8)


@pytest.mark.parametrize("n, batch_size", [(1, 256), (7, 3), (12, 4), (10, 256)])
def test_encode_uint8_scaled_like_fit(n, batch_size):
    model, a, _ = _model()
    x = _images(n)
    z = latent.encode(model, x, batch_size=batch_size)
    assert z.shape == (n, 3) and z.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(z), (x.reshape(n, -1) / 255.0) @ a, rtol=1e-5, atol=1e-5)


def test_encode_floats_taken_as_they_are_and_decode():
    model, a, b = _model()
    x = np.random.default_rng(2).normal(size=(9, H, W, C)).astype(np.float32)  # not in [0, 1]: unscaled
    z = latent.encode(model, x, batch_size=4)
    np.testing.assert_allclose(np.asarray(z), x.reshape(9, -1) @ a, rtol=1e-5, atol=1e-5)
    codes = np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32)
    y = latent.decode(model, codes, batch_size=2)
    assert y.shape == (5, H, W, C)
    np.testing.assert_allclose(np.asarray(y), (codes @ b).reshape(5, H, W, C), rtol=1e-5, atol=1e-5)


def test_interpolate_pixels_hand_computed():
    x0 = np.zeros((H, W, C), np.uint8)
    x1 = np.full((H, W, C), 255, np.uint8)
    x1[0, 0, 0] = 51
    p = np.asarray(latent.interpolate_pixels(x0, x1, 6))
    assert p.shape == (6, H, W, C)
    np.testing.assert_allclose(p[:, 1, 1, 0], [0, 0.2, 0.4, 0.6, 0.8, 1.0], atol=1e-6)
    np.testing.assert_allclose(p[:, 0, 0, 0], [0, 0.04, 0.08, 0.12, 0.16, 0.2], atol=1e-6)


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolate_latent_linear_model(method):
    model, a, b = _model()
    x = _images(2, seed=4)
    steps = 7
    out = np.asarray(latent.interpolate_latent(model, x[0], x[1], steps, method=method))
    assert out.shape == (steps, H, W, C)
    z0, z1 = (x.reshape(2, -1) / 255.0) @ a
    omega = np.arccos(z0 @ z1 / (np.linalg.norm(z0) * np.linalg.norm(z1)))
    for i in range(steps):
        t = i / (steps - 1)
        if method == "linear":
            z = (1 - t) * z0 + t * z1
        else:
            z = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
        np.testing.assert_allclose(out[i], (z @ b).reshape(H, W, C), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "make, method",
    [
        (models.StridedAutoencoder, "linear"),
        (models.StridedAutoencoder, "spherical"),
        (models.LeNetAutoencoder, "spherical"),
        (models.WideLeNetAutoencoder, "linear"),
    ],
)
def test_interpolation_endpoints_are_the_reconstructions(make, method):
    # The requirement: the path starts and ends at decode(encode(x0)) and decode(encode(x1)).
    model = make(rngs=nnx.Rngs(0))
    x = np.random.default_rng(5).integers(0, 256, size=(2, 28, 28, 1), dtype=np.uint8)
    path = np.asarray(latent.interpolate_latent(model, x[0], x[1], 5, method=method))
    model.eval()
    z = model.encode(jnp.asarray(x, jnp.float32) / 255.0)  # straight through the model, unbatched, unjitted
    recon = np.asarray(model.decode(z))
    assert path.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(path[0], recon[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(path[-1], recon[1], rtol=1e-5, atol=1e-5)
    # The middle image decodes the middle of the path, computed here in NumPy.
    a, b = np.asarray(z, np.float64).reshape(2, -1)
    if method == "linear":
        mid = (a + b) / 2
    else:
        omega = np.arccos(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        mid = np.sin(omega / 2) * (a + b) / np.sin(omega)
    expected = np.asarray(model.decode(jnp.asarray(mid.reshape((1,) + z.shape[1:]), jnp.float32)))[0]
    np.testing.assert_allclose(path[2], expected, rtol=1e-4, atol=1e-4)


def test_encode_uses_evaluation_mode():
    # With BatchNorm's running statistics a code does not depend on its batch-mates.
    model = models.WideLeNetAutoencoder(rngs=nnx.Rngs(0))
    model.train()
    x = np.random.default_rng(6).integers(0, 256, size=(6, 28, 28, 1), dtype=np.uint8)
    together = np.asarray(latent.encode(model, x))
    alone = np.concatenate([np.asarray(latent.encode(model, x[i : i + 1])) for i in range(6)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)


def test_latent_grid_orientation_and_images():
    model, _, b = _model(d=2)
    images, coords = latent.latent_grid(model, (-2.0, 10.0), (2.0, 16.0), 3)
    assert images.shape == (3, 3, H, W, C) and coords.shape == (3, 3, 2)
    expected = np.array(
        [
            [[-2, 16], [0, 16], [2, 16]],  # top row: the highest second coordinate
            [[-2, 13], [0, 13], [2, 13]],
            [[-2, 10], [0, 10], [2, 10]],
        ],
        np.float32,
    )
    np.testing.assert_array_equal(np.asarray(coords), expected)
    for i in range(3):
        for j in range(3):
            want = (expected[i, j] @ b).reshape(H, W, C)
            np.testing.assert_allclose(np.asarray(images[i, j]), want, rtol=1e-5, atol=1e-4)
    _, square = latent.latent_grid(model, -1, 1, 2)
    np.testing.assert_array_equal(np.asarray(square), [[[-1, 1], [1, 1]], [[-1, -1], [1, -1]]])


def test_strided_autoencoder_codes_are_2d():
    model = models.StridedAutoencoder(rngs=nnx.Rngs(0))
    x = np.random.default_rng(7).integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)
    assert latent.encode(model, x).shape == (3, 2)
    images, coords = latent.latent_grid(model, -3, 3, 4)
    assert images.shape == (4, 4, 28, 28, 1)
    np.testing.assert_allclose(np.asarray(images[0, 0]), np.asarray(model.decode(coords[0, :1])[0]), atol=1e-5)


def test_errors():
    model, _, _ = _model()
    with pytest.raises(ValueError, match=r"encode: images must be a batch .*got shape \(5,\)"):
        latent.encode(model, np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match=r"encode: images must be a batch .*N >= 1"):
        latent.encode(model, np.zeros((0, H, W, C), np.uint8))
    with pytest.raises(TypeError, match="encode: images must be uint8 .* or floating .*; got int32"):
        latent.encode(model, np.zeros((2, H, W, C), np.int32))
    with pytest.raises(ValueError, match="encode: batch_size must be a positive int; got 0"):
        latent.encode(model, np.zeros((2, H, W, C), np.uint8), batch_size=0)
    with pytest.raises(TypeError, match="encode: model must have a encode"):
        latent.encode(object(), np.zeros((2, H, W, C), np.uint8))
    strided = models.StridedAutoencoder(rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"encode: StridedAutoencoder.encode cannot take \(2, 28, 28\) uint8"):
        latent.encode(strided, np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(TypeError, match="decode: z must be floating; got int32"):
        latent.decode(model, np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match=r"decode: z must be a batch of codes .*got shape \(3,\)"):
        latent.decode(model, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="interpolate_latent: method must be 'linear' or 'spherical'; got 'cubic'"):
        latent.interpolate_latent(model, np.zeros((H, W, C)), np.zeros((H, W, C)), 3, method="cubic")
    with pytest.raises(ValueError, match=r"interpolate_pixels: x0 and x1 must be images of the same shape"):
        latent.interpolate_pixels(np.zeros((H, W, C)), np.zeros((H, W + 1, C)), 3)
    with pytest.raises(ValueError, match=r"interpolate_pixels: x0 and x1 must be single images \(H, W, C\)"):
        latent.interpolate_pixels(np.zeros((2, H, W, C)), np.zeros((2, H, W, C)), 3)
    with pytest.raises(ValueError, match="latent_grid: needs a 2-D latent space; LinearAutoencoder has latent_dim=3"):
        latent.latent_grid(model, -1, 1, 3)
    model2, _, _ = _model(d=2)
    with pytest.raises(ValueError, match="latent_grid: hi must exceed lo"):
        latent.latent_grid(model2, (0, 1), (1, 1), 3)
    with pytest.raises(ValueError, match="latent_grid: lo must be a finite number or a pair"):
        latent.latent_grid(model2, (0, 1, 2), 3, 3)
    with pytest.raises(ValueError, match="latent_grid: n must be an int >= 2; got 1"):
        latent.latent_grid(model2, 0, 1, 1)


def test_jit_cache_reused():
    # Same model graph and shapes: the second call does not compile again.
    model, _, _ = _model()
    x = _images(5)
    latent.encode(model, x)
    before = codes._map_batched._cache_size()
    latent.encode(model, x)
    latent.encode(_model(seed=9)[0], x)  # other weights, same graph: the same program
    assert codes._map_batched._cache_size() == before
