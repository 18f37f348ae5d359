"""Epochs cover every example exactly once (pad) or at most once (drop), eagerly and in scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.data import Dataset, epoch_indices, iterate_batches, num_batches, stream_batches, take, to_device

KEY = jax.random.key(0)


@pytest.mark.parametrize("n, b", [(10, 3), (12, 4), (2, 5), (1, 1), (100, 7)])
def test_pad_covers_every_example_exactly_once(n, b):
    idx, mask = epoch_indices(KEY, n, batch_size=b, remainder="pad")
    assert idx.shape == mask.shape == (-(-n // b), b) and idx.dtype == jnp.int32
    np.testing.assert_array_equal(np.sort(np.asarray(idx)[np.asarray(mask)]), np.arange(n))
    assert int(mask.sum()) == n


@pytest.mark.parametrize("n, b", [(10, 3), (12, 4), (2, 5)])
def test_drop_covers_each_at_most_once(n, b):
    idx, mask = epoch_indices(KEY, n, batch_size=b, remainder="drop")
    assert idx.shape == (n // b, b) and bool(mask.all())
    flat = np.asarray(idx).ravel()
    assert len(np.unique(flat)) == flat.size == (n // b) * b and np.all((flat >= 0) & (flat < n))


def test_num_batches_literal():
    assert [num_batches(n, batch_size=4) for n in (0, 3, 4, 9)] == [0, 0, 1, 2]
    assert [num_batches(n, batch_size=4, remainder="pad") for n in (0, 3, 4, 9)] == [0, 1, 1, 3]


def test_keys_shuffle_and_none_keeps_order():
    a, _ = epoch_indices(KEY, 50, batch_size=10)
    b, _ = epoch_indices(KEY, 50, batch_size=10)
    c, _ = epoch_indices(jax.random.fold_in(KEY, 1), 50, batch_size=10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d, _ = epoch_indices(None, 50, batch_size=10)
    np.testing.assert_array_equal(np.asarray(d).ravel(), np.arange(50))


def test_epoch_inside_jitted_scan_counts_every_example_once():
    n, b = 103, 16
    labels = np.random.default_rng(0).integers(0, 10, n).astype(np.int32)
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)
    ds = Dataset(images, labels, tuple("0123456789"), "test")
    x, y = to_device(ds)

    @jax.jit
    def evaluate(key):
        idx, mask = epoch_indices(key, n, batch_size=b, remainder="pad")

        def step(carry, batch):
            i, m = batch
            xb, yb = take((x, y), i)
            seen = carry[0] + jnp.zeros((n,), jnp.int32).at[xb[:, 0, 0, 0].astype(jnp.int32)].add(m.astype(jnp.int32))
            return (seen, carry[1] + jnp.sum(jnp.where(m, yb, 0))), None

        (seen, total), _ = jax.lax.scan(step, (jnp.zeros((n,), jnp.int32), jnp.int32(0)), (idx, mask))
        return seen, total

    seen, total = evaluate(KEY)
    np.testing.assert_array_equal(seen, np.ones(n))
    assert int(total) == int(labels.sum())


def test_iterate_batches_matches_indices():
    x = np.arange(11, dtype=np.float32) * 10
    y = np.arange(11, dtype=np.int32)
    idx, mask = epoch_indices(KEY, 11, batch_size=4, remainder="pad")
    batches = list(iterate_batches((x, y), batch_size=4, key=KEY, remainder="pad"))
    assert len(batches) == 3
    for (bx, by), m, i, mi in ((b[0], b[1], i, mi) for b, i, mi in zip(batches, idx, mask)):
        np.testing.assert_array_equal(by, np.asarray(i))
        np.testing.assert_array_equal(bx, np.asarray(i) * 10.0)
        np.testing.assert_array_equal(m, mi)
    with pytest.raises(ValueError, match=r"same leading dimension N; got shapes \[\(11,\), \(3,\)\]"):
        next(iterate_batches((x, y[:3]), batch_size=4))


def test_stream_batches_same_order_as_device_path():
    source = [{"image": np.full((2, 2, 1), i, np.uint8), "label": i % 3} for i in range(10)]
    batches = list(stream_batches(source, batch_size=4, key=KEY, remainder="pad"))
    idx, mask = epoch_indices(KEY, 10, batch_size=4, remainder="pad")
    got = np.concatenate([b["image"][:, 0, 0, 0] for b in batches])
    np.testing.assert_array_equal(got, np.asarray(idx).ravel())
    np.testing.assert_array_equal(np.concatenate([b["mask"] for b in batches]), np.asarray(mask).ravel())
    kept = np.concatenate([b["image"][b["mask"], 0, 0, 0] for b in batches])
    np.testing.assert_array_equal(np.sort(kept), np.arange(10))
    assert batches[0]["label"].dtype == np.int32 and batches[0]["image"].shape == (4, 2, 2, 1)


def test_stream_from_tfds_data_source_under_mock():
    import tensorflow_datasets as tfds

    from cnnlab.data import open_source

    with tfds.testing.mock_data(num_examples=10):
        source = open_source("mnist", "train")
        batches = list(stream_batches(source, batch_size=3, remainder="pad"))
    assert [b["image"].shape for b in batches] == [(3, 28, 28, 1)] * 4
    assert int(sum(b["mask"].sum() for b in batches)) == 10


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be a positive int; got 0"):
        epoch_indices(KEY, 10, batch_size=0)
    with pytest.raises(ValueError, match=r"remainder must be one of \['drop', 'pad'\]; got 'keep'"):
        epoch_indices(KEY, 10, batch_size=2, remainder="keep")
    with pytest.raises(TypeError, match="must be a cnnlab.data.Dataset"):
        to_device(np.zeros(3))
