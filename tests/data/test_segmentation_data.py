"""`load_segmentation`: resizing and class mapping against hand-computed values, NumPy nearest-neighbour
indices and ``jax.image.resize``, on hand-built records and on tfds's own mock data; errors."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.testing.mocking import RandomFakeGenerator

from cnnlab import data
from cnnlab.data import DataUnavailableError, SegmentationDataset, load_segmentation


def _nearest(mask2d, size):
    """The oracle: output pixel (i, j) takes input pixel (floor((i + 1/2) H / S), floor((j + 1/2) W / S))."""
    h, w = mask2d.shape
    rows = np.floor((np.arange(size) + 0.5) * h / size).astype(int)
    cols = np.floor((np.arange(size) + 0.5) * w / size).astype(int)
    return mask2d[rows][:, cols]


@pytest.fixture
def records(monkeypatch):
    """Replaces ``tfds.data_source`` by a list of hand-built records; returns (the list to fill, the calls)."""
    recs, calls = [], []

    def fake(name, *, split, data_dir, download, **kwargs):
        calls.append(dict(name=name, split=split, data_dir=data_dir, download=download))
        return recs

    monkeypatch.setattr(tfds, "data_source", fake)
    return recs, calls


def _record(image, trimap, name="hand.jpg"):
    trimap = np.asarray(trimap, np.uint8)
    return {"image": np.asarray(image, np.uint8), "segmentation_mask": trimap[..., None], "file_name": name}


# -- hand-built records: known masks give known outputs -------------------------------------------
def test_trimap_classes_and_nearest_upscaling_by_hand(records):
    recs, calls = records
    trimap = [[1, 2, 3, 1], [3, 3, 2, 1]]  # 2 x 4
    recs.append(_record(np.zeros((2, 4, 3)), trimap))
    ds = load_segmentation("oxford_iiit_pet", "train", size=4)
    # rows floor((i + 1/2) 2/4) = 0, 0, 1, 1; columns unchanged; class = trimap value - 1
    expected = [[0, 1, 2, 0], [0, 1, 2, 0], [2, 2, 1, 0], [2, 2, 1, 0]]
    np.testing.assert_array_equal(ds.masks[0], expected)
    assert ds.masks.dtype == np.int32 and ds.images.dtype == np.uint8
    assert ds.class_names == ("pet", "background", "border")
    assert (ds.name, ds.split, len(ds)) == ("oxford_iiit_pet", "train", 1)
    # read from the tfds data directory, never downloading
    assert calls == [dict(name="oxford_iiit_pet", split="train", data_dir=data.sources.tfds_data_dir(), download=False)]


def test_nearest_downscaling_takes_every_other_pixel(records):
    recs, _ = records
    rng = np.random.default_rng(0)
    trimap = rng.integers(1, 4, (8, 8))
    recs.append(_record(np.zeros((8, 8, 3)), trimap))
    ds = load_segmentation(size=4)
    # floor((i + 1/2) * 2) = 1, 3, 5, 7: no interpolated class ids, only pixels of the input
    np.testing.assert_array_equal(ds.masks[0], trimap[1::2, 1::2] - 1)


def test_bilinear_upscaling_by_hand(records):
    recs, _ = records
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, 2:] = 200
    recs.append(_record(image, np.ones((4, 4))))
    ds = load_segmentation(size=8)
    # output column j samples x = j/2 - 1/4: 0, 0, 0, 1.25 (50), 1.75 (150), 200, 200, 200
    for ch in range(3):
        np.testing.assert_array_equal(ds.images[0, :, :, ch], np.tile([0, 0, 0, 50, 150, 200, 200, 200], (8, 1)))
    np.testing.assert_array_equal(ds.masks[0], np.zeros((8, 8)))


def test_shrinking_is_antialiased(records):
    recs, _ = records
    image = np.zeros((16, 16, 3), np.uint8)
    image[:, np.tile([False, True, True, False], 4)] = 255  # stripes of period 4
    recs.append(_record(image, np.full((16, 16), 2)))
    ds = load_segmentation(size=4)
    # A point sample at x = 4j + 1.5 would land between two bright columns (255); a filter
    # over the 4 columns of each output pixel averages the stripes to mid grey.
    assert np.abs(ds.images[0].astype(float) - 127.5).max() < 30
    np.testing.assert_array_equal(ds.masks[0], np.ones((4, 4)))  # background


def test_limit_reads_the_first_records(records):
    recs, _ = records
    for v in (1, 2, 3):
        recs.append(_record(np.full((4, 4, 3), 10 * v), np.full((4, 4), v)))
    two = load_segmentation(size=4, limit=2)
    assert len(two) == 2
    np.testing.assert_array_equal(two.masks[:, 0, 0], [0, 1])
    np.testing.assert_array_equal(two.images[:, 0, 0, 0], [10, 20])
    assert len(load_segmentation(size=4, limit=50)) == 3  # at most limit
    assert len(load_segmentation(size=4)) == 3


@pytest.mark.parametrize("bad", [0, 4, 255])
def test_mask_values_outside_the_trimap_name_the_record(records, bad):
    recs, _ = records
    recs.append(_record(np.zeros((2, 2, 3)), [[1, 2], [3, 1]]))
    recs.append(_record(np.zeros((2, 2, 3)), [[1, bad], [3, 1]], name="Abyssinian_7.jpg"))
    with pytest.raises(ValueError, match=rf"record 1 \(Abyssinian_7.jpg\).*values \[{bad}\].*\[1, 2, 3\]"):
        load_segmentation(size=4)


def test_bad_records(records):
    recs, _ = records
    recs.append(_record(np.zeros((4, 6, 3)), np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"record 0.*matching the image's \(4, 6\); got uint8 \(4, 5, 1\)"):
        load_segmentation(size=4)
    recs[0] = _record(np.zeros((4, 4, 1)), np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"record 0.*image must be uint8 \(H, W, 3\); got uint8 \(4, 4, 1\)"):
        load_segmentation(size=4)
    recs[0] = {"image": np.zeros((4, 4, 3), np.float32), "segmentation_mask": np.ones((4, 4, 1), np.uint8)}
    with pytest.raises(ValueError, match="image must be uint8.*float32"):
        load_segmentation(size=4)


# -- tfds's own mock data ---------------------------------------------------------------------
def _valid_mock_source(num_examples):
    """An ``as_data_source_fn`` for `tfds.testing.mock_data`: tfds's random records (variable-size
    images, 5..49 pixels a side) with trimaps of the image's own size (tfds's mock masks have a
    size of their own and values 0..254, which real Oxford-IIIT Pet masks never have)."""
    made = []

    def as_data_source(self, split, **kwargs):
        gen = RandomFakeGenerator(self.info.features, num_examples)  # what mock_data itself uses
        recs = []
        for i in range(num_examples):
            ex = dict(gen[i])
            h, w, _ = ex["image"].shape
            ex["segmentation_mask"] = np.random.default_rng(i).integers(1, 4, (h, w, 1)).astype(np.uint8)
            recs.append(ex)
        made.append(recs)
        return recs

    return as_data_source, made


def test_tfds_mock_records_resize_like_numpy_and_jax():
    fn, made = _valid_mock_source(6)
    with tfds.testing.mock_data(as_data_source_fn=fn):
        ds = load_segmentation("oxford_iiit_pet", "test", size=16)
    (recs,) = made
    assert ds.images.shape == (6, 16, 16, 3) and ds.masks.shape == (6, 16, 16)
    assert "oxford_iiit_pet 4." in ds.source and "6 of 6 records" in ds.source
    shapes = {r["image"].shape[:2] for r in recs}
    assert len(shapes) == 6  # tfds's mock gives every record its own size
    shrunk = 0
    for i, rec in enumerate(recs):
        mask = rec["segmentation_mask"][..., 0].astype(np.int64)
        np.testing.assert_array_equal(ds.masks[i], _nearest(mask, 16) - 1)
        img = jnp.asarray(rec["image"], jnp.float32)
        aa = np.asarray(jax.image.resize(img, (16, 16, 3), "linear", antialias=True))
        # PIL rounds to uint8 after each of its two passes: within one grey level of the exact filter
        assert np.abs(ds.images[i] - aa).max() <= 1.5, rec["image"].shape
        if min(rec["image"].shape[:2]) > 32:
            plain = np.asarray(jax.image.resize(img, (16, 16, 3), "linear", antialias=False))
            assert np.abs(ds.images[i] - aa).mean() < np.abs(ds.images[i] - plain).mean()
            shrunk += 1
    assert shrunk >= 1


def test_tfds_mock_default_records_are_rejected():
    # tfds's default mock masks are random values of a random size: not a valid trimap.
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(ValueError, match=r"oxford_iiit_pet train record 0 \(.*\): segmentation_mask must"):
            load_segmentation(size=8)


# -- arguments and missing data -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(name="mnist"), r"unknown dataset 'mnist'; supported: \['oxford_iiit_pet'\]"),
        (dict(name=3), "unknown dataset 3"),
        (dict(split="validation"), r"unknown split 'validation' for oxford_iiit_pet; known: \['train', 'test'\]"),
        (dict(size=0), "size must be an int >= 4 and a multiple of 4; got 0"),
        (dict(size=30), "size must be .* multiple of 4; got 30"),
        (dict(size=32.0), "size must be .*; got 32.0"),
        (dict(size=True), "size must be .*; got True"),
        (dict(limit=0), r"limit must be an int >= 1 \(or None\); got 0"),
        (dict(limit=-3), "limit must be .*; got -3"),
        (dict(data_dir="/no/such/dir"), "data_dir '/no/such/dir' is not a directory"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_segmentation(**kwargs)


def test_not_prepared_fails_fast_and_says_what_to_do(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("load_segmentation must not download")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(DataUnavailableError) as info:
        load_segmentation(size=32)
    assert time.perf_counter() - t0 < 30
    message = str(info.value)
    assert f"not prepared (array_record) in {tmp_path}" in message
    assert "tfds build oxford_iiit_pet --file_format=array_record --data_dir=DIR" in message
    assert "TFDS_DATA_DIR=DIR" in message and "TensorFlow" in message
    # an explicit data_dir is searched instead of TFDS_DATA_DIR
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(DataUnavailableError, match=f"in {other}"):
        load_segmentation(size=32, data_dir=other)


def test_segmentation_dataset_checks():
    images, masks = np.zeros((2, 4, 4, 3), np.uint8), np.zeros((2, 4, 4), np.int32)
    ds = SegmentationDataset(images, masks, ("a", "b"), "here")
    with pytest.raises(ValueError, match="read-only"):
        ds.masks[0, 0, 0] = 1
    with pytest.raises(TypeError, match="masks must be an int32"):
        SegmentationDataset(images, masks.astype(np.int64), ("a", "b"), "here")
    with pytest.raises(TypeError, match="images must be a uint8"):
        SegmentationDataset(images.astype(np.float32), masks, ("a", "b"), "here")
    with pytest.raises(ValueError, match="pixel for pixel"):
        SegmentationDataset(images, masks[:, :3], ("a", "b"), "here")
    with pytest.raises(ValueError, match=r"masks span \[2, 2\] but there are 2 class names"):
        SegmentationDataset(images, np.full((2, 4, 4), 2, np.int32), ("a", "b"), "here")
