"""Transforms against NumPy oracles, literal answers, and measured noise rates."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.data import (
    Dataset,
    channel_stats,
    flip_horizontal,
    one_hot,
    random_flip,
    random_translate,
    salt_and_pepper,
    select_classes,
    standardize,
    to_float,
    train_val_split,
    translate,
)
from tests.tolerances import assert_close

KEY = jax.random.key(0)


def test_to_float_literal():
    x = np.array([0, 51, 255], np.uint8)
    assert_close(to_float(x), np.array([0.0, 0.2, 1.0], np.float32))
    assert to_float(x).dtype == jnp.float32
    assert to_float(x, dtype=jnp.bfloat16).dtype == jnp.bfloat16
    with pytest.raises(TypeError, match="images must be uint8"):
        to_float(x.astype(np.float32))


def test_channel_stats_and_standardize_against_numpy():
    x = np.random.default_rng(0).random((6, 5, 4, 3), dtype=np.float32) * np.array([1, 2, 3], np.float32)
    mean, std = channel_stats(x)
    assert_close(mean, x.mean(axis=(0, 1, 2)))
    assert_close(std, x.std(axis=(0, 1, 2)))
    y = standardize(x, mean, std)
    assert_close(y, (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2)))
    m2, s2 = channel_stats(y)
    assert_close(m2, np.zeros(3), dtype=np.float32)
    assert_close(s2, np.ones(3))
    with pytest.raises(ValueError, match=r"mean must have shape \(3,\) .* got \(1,\)"):
        standardize(x, mean[:1], std)


@pytest.mark.parametrize("p_high, p_low", [(0.1, 0.1), (0.3, 0.05), (0.0, 0.5)])
def test_salt_and_pepper_rates_on_a_large_sample(p_high, p_low):
    x = jnp.full((64, 64, 64, 1), 0.5, jnp.float32)  # 262,144 pixels
    y = np.asarray(jax.jit(lambda k, v: salt_and_pepper(k, v, p_high=p_high, p_low=p_low))(KEY, x))
    n = y.size
    for value, p in ((1.0, p_high), (0.0, p_low), (0.5, 1 - p_high - p_low)):
        rate = np.mean(y == value)
        sigma = np.sqrt(p * (1 - p) / n)
        assert abs(rate - p) <= 5 * sigma + 1e-12, (value, rate, p)
    assert np.all(np.isin(y, [0.0, 0.5, 1.0]))


def test_salt_and_pepper_pixels_move_together_and_keys_decide():
    x = jnp.full((8, 16, 16, 3), 0.25, jnp.float32)
    y = np.asarray(salt_and_pepper(KEY, x))
    assert np.all(y == y[..., :1])  # all channels of a pixel agree
    np.testing.assert_array_equal(y, salt_and_pepper(KEY, x))
    assert not np.array_equal(y, salt_and_pepper(jax.random.key(1), x))


def test_salt_and_pepper_errors():
    x = jnp.zeros((1, 2, 2, 1), jnp.float32)
    with pytest.raises(ValueError, match=r"p_high \+ p_low must be <= 1; got 0.6 \+ 0.5"):
        salt_and_pepper(KEY, x, p_high=0.6, p_low=0.5)
    with pytest.raises(ValueError, match="p_low must be a Python number in"):
        salt_and_pepper(KEY, x, p_low=-0.1)
    with pytest.raises(TypeError, match="must be floating"):
        salt_and_pepper(KEY, jnp.zeros((1, 2, 2, 1), jnp.uint8))
    with pytest.raises(ValueError, match=r"NHWC .* got shape \(2, 2\)"):
        salt_and_pepper(KEY, jnp.zeros((2, 2), jnp.float32))


def test_one_hot_against_eye():
    labels = np.array([3, 0, 9, 3], np.int32)
    np.testing.assert_array_equal(one_hot(labels, 10), np.eye(10, dtype=np.float32)[labels])
    np.testing.assert_array_equal(one_hot(labels.reshape(2, 2), 10), np.eye(10)[labels].reshape(2, 2, 10))
    with pytest.raises(TypeError, match="labels must be integers"):
        one_hot(labels.astype(np.float32), 10)


def test_flip_against_numpy():
    x = np.arange(2 * 2 * 3 * 1, dtype=np.float32).reshape(2, 2, 3, 1)
    got = np.asarray(flip_horizontal(x, np.array([True, False])))
    np.testing.assert_array_equal(got[0, :, :, 0], [[2, 1, 0], [5, 4, 3]])
    np.testing.assert_array_equal(got[1], x[1])


def test_random_flip_flips_about_half():
    x = np.random.default_rng(1).random((2000, 3, 4, 2), dtype=np.float32)
    y = np.asarray(jax.jit(random_flip)(KEY, x))
    flipped = np.all(y == x[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(y == x, axis=(1, 2, 3))
    assert np.all(flipped ^ kept)
    assert abs(flipped.mean() - 0.5) < 5 * np.sqrt(0.25 / 2000)


def _translate_oracle(x, shifts):
    out = np.zeros_like(x)
    n, h, w, _ = x.shape
    for k, (dy, dx) in enumerate(shifts):
        for i, j in itertools.product(range(h), range(w)):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[k, i, j] = x[k, i - dy, j - dx]
    return out


def test_translate_against_loop():
    x = np.random.default_rng(2).random((7, 5, 6, 2), dtype=np.float32)
    shifts = np.array([[0, 0], [1, 0], [0, -2], [-1, 3], [2, 2], [5, 0], [-9, 1]], np.int32)
    np.testing.assert_array_equal(translate(x, shifts), _translate_oracle(x, shifts))
    np.testing.assert_array_equal(jax.jit(translate)(x, shifts), _translate_oracle(x, shifts))
    with pytest.raises(ValueError, match=r"shifts must be integer \(7, 2\)"):
        translate(x, shifts[:3])


def test_random_translate_draws_every_shift_in_range():
    x = np.zeros((3000, 9, 9, 1), np.float32)
    x[:, 4, 4, 0] = 1.0  # one bright pixel: where it lands is the shift
    y = np.asarray(random_translate(KEY, x, max_shift=2))
    assert np.all(y.sum(axis=(1, 2, 3)) == 1.0)
    rows, cols = np.nonzero(y[..., 0].reshape(3000, -1))[1] // 9 - 4, np.nonzero(y[..., 0].reshape(3000, -1))[1] % 9 - 4
    assert set(zip(rows.tolist(), cols.tolist())) == set(itertools.product(range(-2, 3), repeat=2))


def _toy(n=30, k=10):
    labels = (np.arange(n) % k).astype(np.int32)
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)
    return Dataset(images, labels, tuple(f"c{i}" for i in range(k)), "toy", name="toy", split="train")


def test_select_classes():
    ds = _toy()
    sub = select_classes(ds, (1, 5, 6))
    np.testing.assert_array_equal(sub.images[:, 0, 0, 0], [1, 5, 6, 11, 15, 16, 21, 25, 26])
    np.testing.assert_array_equal(sub.labels, [1, 5, 6] * 3)
    assert sub.class_names == ds.class_names
    rel = select_classes(ds, [6, 1, 5], relabel=True)
    np.testing.assert_array_equal(rel.labels, [1, 2, 0] * 3)
    assert rel.class_names == ("c6", "c1", "c5")
    with pytest.raises(ValueError, match=r"distinct indices in \[0, 10\); got \[1, 1\]"):
        select_classes(ds, [1, 1])
    with pytest.raises(ValueError, match=r"got \[10\]"):
        select_classes(ds, [10])


def test_train_val_split():
    ds = _toy(101)
    train, val = train_val_split(ds, val_fraction=0.2, key=KEY)
    assert (len(train), len(val)) == (81, 20)
    ids = np.concatenate([train.images.ravel(), val.images.ravel()])
    np.testing.assert_array_equal(np.sort(ids), np.arange(101))
    again, _ = train_val_split(ds, val_fraction=0.2, key=KEY)
    np.testing.assert_array_equal(again.images, train.images)
    other, _ = train_val_split(ds, val_fraction=0.2, key=jax.random.key(7))
    assert not np.array_equal(other.images, train.images)
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\); got 1.0"):
        train_val_split(ds, val_fraction=1.0, key=KEY)
    with pytest.raises(ValueError, match="gives 0 for validation"):
        train_val_split(ds, val_fraction=0.001, key=KEY)
