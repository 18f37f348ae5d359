"""The `Dataset` record, the table of built-in datasets, and the errors for missing or unsupported data."""

import dataclasses
import functools

import numpy as np


class DataUnavailableError(RuntimeError):
    """No source could provide the dataset; the message lists what was tried and what to do.

    ``str(e)`` is the readable message; the same facts are attributes for code that acts on
    them, so nothing needs to parse the text.

    Attributes:
      name: the dataset, e.g. ``"mnist"`` (``""`` when not given).
      split: the split asked for, e.g. ``"train"`` (``""`` when not given).
      tried: ``(source, reason)`` pairs in the order the sources were tried, e.g.
        ``(("files", "no data_dir given"), ("tfds", "not prepared in ..."), ...)``;
        ``dict(e.tried).get("files")`` is why the files source had nothing.
      remedies: the ways to provide the data, one sentence each.

    Example:
      >>> e = DataUnavailableError("load: no mnist here", name="mnist", split="test",
      ...                          tried=[("files", "no data_dir given")], remedies=["allow network access"])
      >>> str(e), e.name, e.split
      ('load: no mnist here', 'mnist', 'test')
      >>> dict(e.tried).get("files"), e.remedies
      ('no data_dir given', ('allow network access',))
    """

    def __init__(self, message: str, *, name: str = "", split: str = "", tried=(), remedies=()):
        super().__init__(message)
        self.name, self.split = name, split
        self.tried: tuple[tuple[str, str], ...] = tuple((str(s), str(r)) for s, r in tried)
        self.remedies: tuple[str, ...] = tuple(str(r) for r in remedies)

    def __reduce__(self):  # keep the attributes through pickle (multiprocessing, xdist)
        keywords = dict(name=self.name, split=self.split, tried=self.tried, remedies=self.remedies)
        return functools.partial(type(self), *self.args, **keywords), ()


class UnsupportedDatasetError(ValueError):
    """The dataset name is unknown, or its examples are not ``{'image', 'label'}`` class data.

    A ValueError (a wrong argument, not missing data): no other source is tried.

    Attributes:
      name: the dataset name that was asked for.
    """

    def __init__(self, message: str, *, name: str = ""):
        super().__init__(message)
        self.name = name

    def __reduce__(self):
        return functools.partial(type(self), *self.args, name=self.name), ()


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image dataset held in host memory as read-only NumPy arrays.

    Attributes:
      images: uint8 ``(N, H, W, C)``, NHWC, values 0..255.
      labels: int32 ``(N,)``, each in ``[0, len(class_names))``.
      class_names: one name per class; ``class_names[labels[i]]`` names example ``i``.
      source: where the data came from, in words (a path, a tfds directory, a package).
      name: the dataset's name, e.g. ``"mnist"``.
      split: the split, e.g. ``"train"``.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    name: str = ""
    split: str = ""

    def __post_init__(self):
        images, labels = self.images, self.labels
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
            raise TypeError(
                "Dataset: images must be a uint8 NumPy array (N, H, W, C); got "
                f"{type(images).__name__} {getattr(images, 'dtype', '')} {getattr(images, 'shape', '')}"
            )
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int32 or labels.ndim != 1:
            raise TypeError(
                "Dataset: labels must be an int32 NumPy array (N,); got "
                f"{type(labels).__name__} {getattr(labels, 'dtype', '')} {getattr(labels, 'shape', '')}"
            )
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"Dataset: {images.shape[0]} images but {labels.shape[0]} labels; "
                f"images {images.shape}, labels {labels.shape}; they must pair one to one"
            )
        k = len(self.class_names)
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(
                f"Dataset: labels span [{labels.min()}, {labels.max()}] but there are {k} "
                f"class names; every label must be in [0, {k})"
            )
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        for a in (images, labels):
            a.setflags(write=False)  # frozen means frozen: no in-place edits through views

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """The number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(int(d) for d in self.images.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, images={self.images.shape} "
            f"{self.images.dtype}, labels={self.labels.shape}, classes={self.num_classes}, "
            f"source={self.source!r})"
        )


@dataclasses.dataclass(frozen=True)
class _Known:
    """What cnnlab knows about a built-in dataset beyond what tfds says."""

    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    splits: dict[str, int]  # split -> number of examples in the full dataset
    downloads: tuple[tuple[str, str], ...]  # (url, sha256) of the original files


_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# The URLs and sha256 sums are the ones tfds 4.9 registers for these datasets
# (tensorflow_datasets/image_classification/*_checksums.tsv).
KNOWN: dict[str, _Known] = {
    "mnist": _Known(
        class_names=tuple(str(d) for d in range(10)),
        image_shape=(28, 28, 1),
        splits={"train": 60_000, "test": 10_000},
        downloads=(
            (
                _MNIST_URL + "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
            (
                _MNIST_URL + "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
            (
                _MNIST_URL + "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
            (
                _MNIST_URL + "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        ),
    ),
    "fashion_mnist": _Known(
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        image_shape=(28, 28, 1),
        splits={"train": 60_000, "test": 10_000},
        downloads=(
            (
                _FASHION_URL + "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            ),
            (
                _FASHION_URL + "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            ),
            (
                _FASHION_URL + "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            ),
            (
                _FASHION_URL + "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            ),
        ),
    ),
    "cifar10": _Known(
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        image_shape=(32, 32, 3),
        splits={"train": 50_000, "test": 10_000},
        downloads=(
            (
                "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            ),
        ),
    ),
}
