"""`load_segmentation`: images and per-pixel class masks from tensorflow-datasets, resized to a square.

The one dataset supported is Oxford-IIIT Pet (tfds ``oxford_iiit_pet``, version 4.x): 3,680
train and 3,669 test photographs of cats and dogs of varying size, each with a trimap
``segmentation_mask`` whose values are 1 (pet), 2 (background) and 3 (border, the uncertain
outline). As in the Keras / TensorFlow segmentation tutorial, the classes are the trimap values
minus one: 0 = pet, 1 = background, 2 = border.

The prepared data is read with ``tfds.data_source`` (array_record files; no TensorFlow needed).
Preparing it needs TensorFlow and network access, which this package does not assume: run
``tfds build oxford_iiit_pet --file_format=array_record --data_dir=DIR`` where both are
available, copy ``DIR`` here and set ``TFDS_DATA_DIR=DIR`` (or pass ``data_dir=DIR``).
"""

import dataclasses
import os

import numpy as np

from cnnlab.data.dataset import DataUnavailableError, UnsupportedDatasetError
from cnnlab.data.sources import _quiet_absl, tfds_data_dir

__all__ = ["SEGMENTATION_DATASETS", "SegmentationDataset", "load_segmentation"]


@dataclasses.dataclass(frozen=True)
class _Spec:
    """How one tfds dataset's masks become classes: stored value ``mask_values[k]`` is class ``k``."""

    mask_values: tuple[int, ...]
    class_names: tuple[str, ...]
    splits: tuple[str, ...]


#: The tfds datasets `load_segmentation` reads (each has an ``image`` and a ``segmentation_mask``
#: feature), with the stored mask value of each class.
SEGMENTATION_DATASETS = {
    "oxford_iiit_pet": _Spec(
        mask_values=(1, 2, 3), class_names=("pet", "background", "border"), splits=("train", "test")
    )
}


@dataclasses.dataclass(frozen=True, eq=False)
class SegmentationDataset:
    """Images and their per-pixel class masks, held in host memory as read-only NumPy arrays.

    Attributes:
      images: uint8 ``(N, S, S, 3)``, values 0..255.
      masks: int32 ``(N, S, S)``, each pixel's class in ``[0, len(class_names))``.
      class_names: one name per class; ``class_names[masks[i, y, x]]`` names a pixel.
      source: where the data came from, in words (tfds name, version, directory).
      name: the dataset's name, e.g. ``"oxford_iiit_pet"``.
      split: the split, e.g. ``"train"``.
    """

    images: np.ndarray
    masks: np.ndarray
    class_names: tuple[str, ...]
    source: str
    name: str = ""
    split: str = ""

    def __post_init__(self):
        images, masks = self.images, self.masks
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
            raise TypeError(
                "SegmentationDataset: images must be a uint8 NumPy array (N, H, W, C); got "
                f"{type(images).__name__} {getattr(images, 'dtype', '')} {getattr(images, 'shape', '')}"
            )
        if not isinstance(masks, np.ndarray) or masks.dtype != np.int32 or masks.ndim != 3:
            raise TypeError(
                "SegmentationDataset: masks must be an int32 NumPy array (N, H, W); got "
                f"{type(masks).__name__} {getattr(masks, 'dtype', '')} {getattr(masks, 'shape', '')}"
            )
        if images.shape[:3] != masks.shape:
            raise ValueError(
                f"SegmentationDataset: images {images.shape} and masks {masks.shape} must pair one to one, "
                "pixel for pixel: (N, H, W, C) and (N, H, W)"
            )
        k = len(self.class_names)
        if masks.size and (masks.min() < 0 or masks.max() >= k):
            raise ValueError(
                f"SegmentationDataset: masks span [{masks.min()}, {masks.max()}] but there are {k} class names; "
                f"every pixel's class must be in [0, {k})"
            )
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        for a in (images, masks):
            a.setflags(write=False)

    def __len__(self) -> int:
        return int(self.masks.shape[0])


def _help(name: str) -> str:
    return (
        f"prepare it on a machine with TensorFlow and network access "
        f"(`tfds build {name} --file_format=array_record --data_dir=DIR`), copy DIR here and set "
        "TFDS_DATA_DIR=DIR (or pass DIR as data_dir, or --data-dir to a study); tfds cannot prepare it "
        "without TensorFlow, which decodes its images"
    )


def _open(name: str, split: str, directory: str):
    """The ``tfds.data_source`` of ``name``/``split`` in ``directory``, and the dataset's version."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DataUnavailableError(
            f"load_segmentation: tensorflow-datasets is not installed ({e}); pip install tensorflow-datasets, then "
            + _help(name),
            name=name,
            split=split,
            tried=[("tfds", f"tensorflow-datasets is not installed ({e})")],
            remedies=["pip install tensorflow-datasets, then " + _help(name)],
        ) from None
    with _quiet_absl():
        builder = tfds.builder(name, data_dir=directory)
    features = builder.info.features
    for key in ("image", "segmentation_mask"):
        if key not in features or not isinstance(features[key], tfds.features.Image):
            raise ValueError(f"load_segmentation: tfds {name!r} has no Image feature {key!r}; features: {features!r}")
    try:
        with _quiet_absl():
            source = tfds.data_source(
                name,
                split=split,
                data_dir=directory,
                download=False,
                builder_kwargs={"file_format": "array_record"},
            )
    except Exception as e:  # tfds says "not prepared" as KeyError, ValueError, NotImplementedError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        reason = f"not prepared (array_record) in {directory} ({type(e).__name__}: {first})"
        raise DataUnavailableError(
            f"load_segmentation: {name} split {split!r} is {reason}; to provide it, " + _help(name),
            name=name,
            split=split,
            tried=[("tfds", reason)],
            remedies=[_help(name)],
        ) from None
    return source, str(builder.info.version)


def _check_int(what: str, value, *, lo: int, multiple: int = 1, none_ok: bool = False):
    if none_ok and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo or value % multiple:
        need = f"an int >= {lo}" + (f" and a multiple of {multiple}" if multiple > 1 else "")
        raise ValueError(
            f"load_segmentation: {what} must be {need}" + (" (or None)" if none_ok else "") + f"; got {value!r}"
        )


def load_segmentation(
    name: str = "oxford_iiit_pet",
    split: str = "train",
    *,
    size: int = 128,
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
) -> SegmentationDataset:
    """Loads one split of a tfds segmentation dataset, every image and mask resized to ``size x size``.

    Each record's ``image`` (uint8 ``(H, W, 3)``, any H and W) is resized bilinearly with PIL,
    which filters (antialiases) when shrinking; its ``segmentation_mask`` (``(H, W, 1)``, the
    same H and W) is resized by nearest neighbour with PIL, so no class id is ever interpolated,
    then mapped to classes (Oxford-IIIT Pet: trimap 1, 2, 3 -> 0 pet, 1 background, 2 border).
    Both are stretched to the square (the aspect ratio is not kept), as in the TensorFlow
    tutorial's ``tf.image.resize(..., (128, 128))``.

    Args:
      name: a name in `SEGMENTATION_DATASETS` (``"oxford_iiit_pet"``).
      split: ``"train"`` or ``"test"``.
      size: output height and width, a positive multiple of 4 (what `models.Segmenter` needs).
      limit: read at most this many records, the first in tfds's stored order (tfds shuffles
        the records when it prepares them); None reads the whole split.
      data_dir: the tfds data directory; default ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``.

    Returns:
      A `SegmentationDataset`: ``images`` uint8 ``(N, size, size, 3)``, ``masks`` int32
      ``(N, size, size)``, ``class_names``, ``source``.

    Raises:
      UnsupportedDatasetError: a name not in `SEGMENTATION_DATASETS` (a ValueError).
      ValueError: unknown split, a bad ``size`` or ``limit``, a record whose image is
        not uint8 RGB, whose mask does not match its image's height and width, or whose mask
        holds values other than the dataset's (the message names the record).
      DataUnavailableError: the split is not prepared in the tfds data directory; the message
        says how to prepare it (``tried`` holds ``("tfds", reason)``). No download is attempted.

    Example:
      >>> pets = load_segmentation("oxford_iiit_pet", "test", size=128, limit=500)  # doctest: +SKIP
      >>> pets.images.shape, pets.masks.shape, pets.class_names  # doctest: +SKIP
      ((500, 128, 128, 3), (500, 128, 128), ('pet', 'background', 'border'))
    """
    from PIL import Image

    if not isinstance(name, str) or name not in SEGMENTATION_DATASETS:
        raise UnsupportedDatasetError(
            f"load_segmentation: unknown dataset {name!r}; supported: {sorted(SEGMENTATION_DATASETS)} "
            "(tfds datasets with an 'image' and a 'segmentation_mask' feature)",
            name=name if isinstance(name, str) else "",
        )
    spec = SEGMENTATION_DATASETS[name]
    if not isinstance(split, str) or split not in spec.splits:
        raise ValueError(f"load_segmentation: unknown split {split!r} for {name}; known: {list(spec.splits)}")
    _check_int("size", size, lo=4, multiple=4)
    _check_int("limit", limit, lo=1, none_ok=True)
    if data_dir is None:
        directory = tfds_data_dir()
    else:
        directory = os.fspath(data_dir)
        if not os.path.isdir(directory):
            raise ValueError(f"load_segmentation: data_dir {directory!r} is not a directory")

    source, version = _open(name, split, directory)
    n = len(source) if limit is None else min(int(limit), len(source))
    size = int(size)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.int32)
    # stored mask value -> class; any other value maps to -1 and is reported below
    lookup = np.full(256, -1, np.int32)
    lookup[list(spec.mask_values)] = np.arange(len(spec.mask_values))
    for i in range(n):  # record by record: tfds's batched __getitems__ is not needed and its mock is broken
        example = source[i]
        image, mask = np.asarray(example["image"]), np.asarray(example["segmentation_mask"])
        record = f"{name} {split} record {i}" + (f" ({_text(example['file_name'])})" if "file_name" in example else "")
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
            raise ValueError(
                f"load_segmentation: {record}: image must be uint8 (H, W, 3); got {image.dtype} {image.shape}"
            )
        if mask.ndim == 3 and mask.shape[-1] == 1:
            mask = mask[..., 0]
        if mask.dtype != np.uint8 or mask.shape != image.shape[:2]:
            raise ValueError(
                f"load_segmentation: {record}: segmentation_mask must be uint8 (H, W, 1) matching the image's "
                f"{image.shape[:2]}; got {mask.dtype} {np.shape(example['segmentation_mask'])}"
            )
        classes = lookup[mask]
        if (classes < 0).any():
            bad = sorted(int(v) for v in np.unique(mask[classes < 0]))
            raise ValueError(
                f"load_segmentation: {record}: segmentation_mask holds values {bad[:10]}"
                + (" ..." if len(bad) > 10 else "")
                + f"; {name}'s masks hold only {list(spec.mask_values)} ({', '.join(spec.class_names)})"
            )
        images[i] = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
        masks[i] = np.asarray(Image.fromarray(classes.astype(np.uint8)).resize((size, size), Image.Resampling.NEAREST))
    where = f"tensorflow-datasets {name} {version} ({n} of {len(source)} records, array_record in {directory})"
    return SegmentationDataset(images, masks, spec.class_names, where, name=name, split=split)


def _text(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
