"""`load_first`: the first of several datasets that is here without a download, and why the others were not.

A study whose data may be absent on a fresh machine (batchnorm wants CIFAR-10, which only
tfds or a download provides) names its choices in order of preference; `load_first` takes
the first one a local source holds and says, once, what it used instead of the first
choice and why. Local sources need no network (`LOCAL_SOURCES`): a prepared tfds
directory, a system package (Debian's ``dataset-fashion-mnist``) and the digits embedded
in cnnlab. With ``data_dir`` the directory is the only source, as in `cnnlab.data.load`.

    >>> got = load_first(("cifar10", "fashion_mnist", "mnist"))  # doctest: +SKIP
    >>> got.name, got.note[:40]                                   # doctest: +SKIP
    ('fashion_mnist', 'cifar10 is not here without a download (')
"""

import dataclasses
import logging
import os
import re
from collections.abc import Sequence

from cnnlab.data import sources
from cnnlab.data.dataset import Dataset, DataUnavailableError

__all__ = ["LOCAL_SOURCES", "Loaded", "load_first"]

#: The sources `load_first` tries, in order: none of them uses the network.
LOCAL_SOURCES = ("tfds", "debian", "offline")

_EXCEPTION_DETAIL = re.compile(r" \(\w+(Error|Exception): .*\)$", re.DOTALL)
_log = logging.getLogger("cnnlab.data")


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What `load_first` found.

    Attributes:
      train, test: the two splits, from the same dataset and source.
      wanted: the first choice.
      note: ``""`` when the first choice was used; else one sentence naming the choices that
        were not here, why, and what was used instead.
      tried: ``(dataset, why it was not used)`` for each choice passed over.
    """

    train: Dataset
    test: Dataset
    wanted: str
    note: str
    tried: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        """The dataset used."""
        return self.train.name


def _why(e: DataUnavailableError) -> str:
    """The sources' reasons on one line, without the library exceptions they quote (tfds's KeyError)."""
    return "; ".join(f"{source}: {_EXCEPTION_DETAIL.sub('', reason)}" for source, reason in e.tried)


def _local_sources(name: str) -> tuple[str, ...]:
    """The local sources that can hold ``name``: tfds always, a system package or the embedded digits if any."""
    return tuple(
        s
        for s in LOCAL_SOURCES
        if s == "tfds" or (s == "debian" and name in sources.DEBIAN_DIRS) or (s == "offline" and name == "mnist")
    )


def _load_pair(name: str, data_dir: str | None) -> tuple[Dataset, Dataset]:
    """Both splits of ``name`` from the first local source (or ``data_dir``) holding its train split."""
    if data_dir is not None:
        return tuple(sources.load(name, split, data_dir=data_dir) for split in ("train", "test"))
    tried = []
    for source in _local_sources(name):
        try:
            train = sources.load(name, "train", source=source)
        except DataUnavailableError as e:
            tried.extend(e.tried)
            continue
        return train, sources.load(name, "test", source=source)
    raise DataUnavailableError(f"load_first: no local source holds {name}", name=name, split="train", tried=tried)


def load_first(names: Sequence[str], *, data_dir: str | os.PathLike | None = None) -> Loaded:
    """Both splits of the first of ``names`` that a local source (or ``data_dir``) holds.

    Args:
      names: dataset names in order of preference, e.g. ``("cifar10", "fashion_mnist", "mnist")``.
      data_dir: a directory of dataset files (see `cnnlab.data.load`); when given, the only source.

    Returns:
      A `Loaded`. When the first choice is not here, its ``note`` says why and what was used,
      and the note is logged once as a warning on the ``cnnlab.data`` logger.

    Raises:
      ValueError: ``names`` is empty or not a sequence of str.
      UnsupportedDatasetError: a name neither cnnlab nor tfds knows.
      DataUnavailableError: none of ``names`` is here; ``tried`` holds each one's reasons.
    """
    if isinstance(names, str) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"load_first: names must be a non-empty sequence of dataset names; got {names!r}")
    data_dir = None if data_dir is None else os.fspath(data_dir)
    passed_over = []
    for name in names:
        try:
            train, test = _load_pair(name, data_dir)
        except DataUnavailableError as e:
            passed_over.append((name, _why(e)))
            continue
        note = ""
        if passed_over:
            where = f"in {data_dir}" if data_dir is not None else "without a download"
            missing = "; ".join(f"{n} is not here {where} ({why})" for n, why in passed_over)
            note = f"{missing}. Using {name} instead: {train.source}"
            _log.warning("cnnlab.data: %s", note)
        return Loaded(train, test, names[0], note, tuple(passed_over))
    raise DataUnavailableError(
        "load_first: none of " + ", ".join(names) + " is here:\n"
        + "\n".join(f"  - {n}: {why}" for n, why in passed_over),
        name=names[0],
        split="train",
        tried=passed_over,
    )  # fmt: skip
