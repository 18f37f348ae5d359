"""cnnlab.data.fallback.load_first: the first dataset here without a download, and a note naming what was not."""

import logging

import numpy as np
import pytest

from cnnlab.data import DataUnavailableError, UnsupportedDatasetError, sources
from cnnlab.data.fallback import load_first
from tests._fresh import simulate_fresh_machine
from tests.data._files import write_cifar_python, write_idx_dir

PREFERENCE = ("cifar10", "fashion_mnist", "mnist")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    simulate_fresh_machine(monkeypatch, tmp_path)
    return tmp_path


def _images(n, seed, shape=(28, 28)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def test_the_simulation_hides_fashion_mnist(fresh):
    # Without this, every test below could pass on a machine that simply has the data.
    with pytest.raises(DataUnavailableError) as e:
        sources.load("fashion_mnist", source="debian")
    assert "does not exist (apt-get install dataset-fashion-mnist)" in str(e.value)


def test_fresh_machine_falls_back_to_the_embedded_digits_with_one_note(fresh, caplog):
    with caplog.at_level(logging.WARNING, logger="cnnlab.data"):
        got = load_first(PREFERENCE)
    assert (got.name, got.wanted) == ("mnist", "cifar10")
    assert (len(got.train), len(got.test)) == (4000, 1000)  # the embedded 5,000 digits, split 4:1
    assert [n for n, _ in got.tried] == ["cifar10", "fashion_mnist"]
    assert f"not prepared in {fresh / 'tfds'}" in dict(got.tried)["cifar10"]
    assert "apt-get install dataset-fashion-mnist" in dict(got.tried)["fashion_mnist"]
    # One sentence: what was not here, why, and what was used instead; tfds's KeyError text is left out.
    assert got.note.startswith("cifar10 is not here without a download (tfds: not prepared in ")
    assert "Using mnist instead: using the 5,000-digit offline MNIST subset" in got.note
    assert "KeyError" not in got.note
    notes = [r.getMessage() for r in caplog.records if "Using mnist instead" in r.getMessage()]
    assert len(notes) == 1


def test_a_system_package_is_used_before_the_digits(fresh, monkeypatch):
    debian = fresh / "fashion"
    debian.mkdir()
    train, test = _images(12, 1), _images(5, 2)
    write_idx_dir(debian, {"train": train, "test": test})
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion_mnist", str(debian))
    got = load_first(PREFERENCE)
    assert got.name == "fashion_mnist" and [n for n, _ in got.tried] == ["cifar10"]
    np.testing.assert_array_equal(got.train.images[..., 0], train[0])
    np.testing.assert_array_equal(got.test.labels, test[1])
    assert "Using fashion_mnist instead" in got.note and "Debian package dataset-fashion-mnist" in got.note


def test_the_first_choice_gives_no_note(fresh):
    got = load_first(("mnist", "cifar10"))
    assert (got.name, got.note, got.tried) == ("mnist", "", ())


def test_a_data_dir_is_the_only_source(fresh):
    rgb = [_images(20, s, (32, 32, 3)) for s in range(5)]
    write_cifar_python(fresh, rgb, _images(10, 9, (32, 32, 3)))
    got = load_first(PREFERENCE, data_dir=fresh)
    assert (got.name, got.note) == ("cifar10", "")
    assert got.train.images.shape == (100, 32, 32, 3) and len(got.test) == 10
    np.testing.assert_array_equal(got.train.images[:20], rgb[0][0])
    # A directory with none of them: each is named with what the directory lacks; nothing else is tried.
    empty = fresh / "empty"
    empty.mkdir()
    with pytest.raises(DataUnavailableError) as e:
        load_first(PREFERENCE, data_dir=empty)
    assert [n for n, _ in e.value.tried] == list(PREFERENCE)
    assert "none of cifar10, fashion_mnist, mnist is here" in str(e.value)


def test_nothing_here_names_every_choice(fresh):
    with pytest.raises(DataUnavailableError, match="none of cifar10, fashion_mnist is here") as e:
        load_first(("cifar10", "fashion_mnist"))
    assert "apt-get install dataset-fashion-mnist" in str(e.value)


@pytest.mark.parametrize("names", [(), "mnist", ["mnist", 3]])
def test_names_must_be_a_sequence_of_names(names):
    with pytest.raises(ValueError, match="names must be a non-empty sequence of dataset names; got"):
        load_first(names)


def test_an_unknown_name_is_not_missing_data(fresh):
    with pytest.raises(UnsupportedDatasetError, match="unknown dataset 'no_such_set'"):
        load_first(("no_such_set", "mnist"))
