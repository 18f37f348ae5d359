"""Structured data errors: `DataUnavailableError` carries ``name``, ``split``, ``tried`` and
``remedies`` on the real failure paths, and `UnsupportedDatasetError` (a ValueError) is raised
for names no source can serve, so nothing has to match on message text."""

import pickle

import pytest

from cnnlab import cli
from cnnlab.data import DataUnavailableError, UnsupportedDatasetError, load, load_segmentation, open_source, sources


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """No test sees the user's tfds directory, download cache, Debian install or network."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path_factory.mktemp("tfds")))
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion_mnist", str(tmp_path_factory.mktemp("x") / "absent"))


def _no_embedded_digits():
    raise FileNotFoundError("mnist_5k.npz")


# --- DataUnavailableError -------------------------------------------------------------------


def test_empty_data_dir_names_the_files_source(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load("mnist", "test", data_dir=tmp_path)
    e = info.value
    assert (e.name, e.split) == ("mnist", "test")
    assert [s for s, _ in e.tried] == ["files"]  # a named directory is the only source
    reason = dict(e.tried)["files"]
    assert str(tmp_path) in reason and "t10k-images-idx3-ubyte.gz" in reason and "mnist.npz" in reason
    assert reason.endswith("it is empty")
    assert e.remedies and any(str(tmp_path) in r for r in e.remedies)
    assert str(e).startswith(f"load: data_dir {tmp_path} holds no mnist test files: put ")  # the message as before


def test_every_source_tried_is_listed_in_order_with_its_reason(monkeypatch):
    monkeypatch.setattr(sources, "_embedded_digits", _no_embedded_digits)
    with pytest.raises(DataUnavailableError) as info:
        load("mnist")
    e = info.value
    assert (e.name, e.split) == ("mnist", "train")
    assert [s for s, _ in e.tried] == list(sources.SOURCES)
    reasons = dict(e.tried)
    assert reasons["files"] == "no data_dir given"
    assert reasons["tfds"].startswith(f"not prepared in {sources.tfds_data_dir()}")
    assert reasons["download"] == "offline: CNNLAB_OFFLINE=1 is set"
    assert reasons["offline"] == "cnnlab/data/mnist_5k.npz is missing from this install (reinstall cnnlab)"
    # the message is made of the same facts: one line per source, one per remedy
    message = str(e)
    for source, reason in e.tried:
        assert f"\n  - {source}: {reason}\n" in message
    assert len(e.remedies) >= 3
    for remedy in e.remedies:
        assert f"\n  - {remedy}" in message
    assert any("data_dir=DIR" in r for r in e.remedies) and any("source='offline'" in r for r in e.remedies)


def test_one_named_source_is_the_only_one_tried():
    with pytest.raises(DataUnavailableError) as info:
        load("cifar10", "test", source="tfds")  # nothing prepared in the (empty) TFDS_DATA_DIR
    e = info.value
    assert (e.name, e.split) == ("cifar10", "test")
    ((source, reason),) = e.tried
    assert source == "tfds" and reason.startswith(f"not prepared in {sources.tfds_data_dir()}")


def test_open_source_not_prepared():
    with pytest.raises(DataUnavailableError) as info:
        open_source("fashion_mnist", "test")
    e = info.value
    assert (e.name, e.split) == ("fashion_mnist", "test")
    ((source, reason),) = e.tried
    assert source == "tfds" and reason.startswith(f"not prepared in {sources.tfds_data_dir()} in array_record")
    assert e.remedies == (
        "prepare it where TensorFlow is installed with `tfds build fashion_mnist --file_format=array_record "
        "--data_dir=DIR`, then set TFDS_DATA_DIR=DIR",
    )
    assert str(e).startswith(f"open_source: fashion_mnist is {reason}. Prepare it where TensorFlow")


def test_segmentation_not_prepared(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load_segmentation("oxford_iiit_pet", "test", size=32, data_dir=tmp_path)
    e = info.value
    assert (e.name, e.split) == ("oxford_iiit_pet", "test")
    ((source, reason),) = e.tried
    assert source == "tfds" and reason.startswith(f"not prepared (array_record) in {tmp_path}")
    assert len(e.remedies) == 1 and "tfds build oxford_iiit_pet" in e.remedies[0]


def test_the_attributes_survive_pickling():
    e = DataUnavailableError("load: none", name="mnist", split="test", tried=[("files", "x")], remedies=["y"])
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is DataUnavailableError and str(back) == "load: none"
    assert (back.name, back.split, back.tried, back.remedies) == ("mnist", "test", (("files", "x"),), ("y",))
    u = pickle.loads(pickle.dumps(UnsupportedDatasetError("load: no", name="nope")))
    assert type(u) is UnsupportedDatasetError and (str(u), u.name) == ("load: no", "nope")


def test_defaults_for_a_bare_message():
    e = DataUnavailableError("something else")
    assert (e.name, e.split, e.tried, e.remedies) == ("", "", (), ())
    assert dict(e.tried).get("files") is None


# --- UnsupportedDatasetError ----------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda: load("no_such_dataset"),
    lambda: load("no_such_dataset", source="tfds"),
    lambda: open_source("no_such_dataset"),
    lambda: sources._from_tfds("no_such_dataset", "train", None),  # not swallowed as "not prepared"
])  # fmt: skip
def test_unknown_name(call):
    with pytest.raises(UnsupportedDatasetError, match="unknown dataset 'no_such_dataset'") as info:
        call()
    assert isinstance(info.value, ValueError) and info.value.name == "no_such_dataset"


@pytest.mark.parametrize("call", [
    lambda: load("imdb_reviews"),
    lambda: open_source("imdb_reviews"),
    lambda: sources._from_tfds("imdb_reviews", "train", None),
])  # fmt: skip
def test_tfds_dataset_without_image_and_label(call):
    with pytest.raises(UnsupportedDatasetError, match="'image' \\(a fixed-shape Image\\) and 'label'") as info:
        call()
    assert info.value.name == "imdb_reviews"


def test_data_dir_for_a_tfds_only_name(tmp_path):
    with pytest.raises(UnsupportedDatasetError, match="data_dir holds files of") as info:
        load("svhn_cropped", data_dir=tmp_path)
    assert info.value.name == "svhn_cropped"


def test_unknown_segmentation_dataset():
    with pytest.raises(UnsupportedDatasetError, match="load_segmentation: unknown dataset 'pets'") as info:
        load_segmentation("pets")
    assert info.value.name == "pets"


# --- the command line shows the files source's reason ----------------------------------------


def _error_line(capsys, argv) -> str:
    assert cli.main(argv) == 2
    lines = [ln for ln in capsys.readouterr().err.strip().splitlines() if "error:" in ln]
    assert len(lines) == 1, lines
    return lines[0]


def test_harness_shows_the_files_reason(capsys, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(DataUnavailableError) as info:
        load("mnist", "train", data_dir=data_dir, source="files")
    reason = dict(info.value.tried)["files"]
    argv = ["run", "mnist-cnn", "--quick", "--quiet", "--data-dir", str(data_dir), "--out", str(tmp_path / "o")]
    assert _error_line(capsys, argv) == f"cnnlab run mnist-cnn: error: --data-dir {data_dir}: {reason}"


def test_harness_falls_back_to_the_first_line(capsys, tmp_path, monkeypatch):
    from cnnlab import data

    def unavailable(*args, **kwargs):
        raise DataUnavailableError("load: somewhere else\n  - and a second line")

    monkeypatch.setattr(data, "load", unavailable)
    argv = ["run", "mnist-cnn", "--quick", "--quiet", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    assert _error_line(capsys, argv) == f"cnnlab run mnist-cnn: error: --data-dir {tmp_path}: load: somewhere else"
