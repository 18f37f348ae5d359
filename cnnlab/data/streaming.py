"""Streaming for data too large for the device: batches read from a random-access source.

A source is anything with ``len`` and ``[i]`` returning ``{'image': ..., 'label': ...}``:
a ``tfds.data_source`` (see `open_source`), a list of dicts, or a grain ``MapDataset``.
Indices come from the same sampler as the device path (`epoch_indices`), so a key gives
the same order in both.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from cnnlab.data import sources
from cnnlab.data.batching import epoch_indices
from cnnlab.data.dataset import DataUnavailableError, UnsupportedDatasetError


def open_source(name: str, split: str = "train") -> Sequence[dict]:
    """A tfds ``data_source`` over a dataset prepared in array_record format.

    Nothing is read until indexed; ``$TFDS_DATA_DIR`` (default ``~/tensorflow_datasets``)
    says where tfds looks.

    Args:
      name: a tfds dataset name with ``image`` and ``label`` features.
      split: a tfds split, e.g. ``"train"`` or ``"train[:90%]"``.

    Returns:
      A random-access sequence of dicts, ``'image'`` uint8 ``(H, W, C)``, ``'label'`` int.

    Raises:
      UnsupportedDatasetError: tfds does not know ``name``, or its examples are not image/label pairs.
      DataUnavailableError: the dataset is not prepared there; the message says how, and
        ``tried`` holds the one source tried, ``("tfds", reason)``.
    """
    try:
        source, _ = sources.open_tfds(name, split)
    except UnsupportedDatasetError:
        raise
    except Exception as e:  # tfds reports "not prepared" as KeyError, ValueError, NotImplementedError, ...
        raise _not_prepared(name, split, e) from e
    return source


def _not_prepared(name: str, split: str, e: Exception) -> DataUnavailableError:
    reason = f"not prepared in {sources.tfds_data_dir()} in array_record format ({type(e).__name__}: {e})"
    remedy = (
        f"prepare it where TensorFlow is installed with `tfds build {name} --file_format=array_record "
        "--data_dir=DIR`, then set TFDS_DATA_DIR=DIR"
    )
    return DataUnavailableError(
        f"open_source: {name} is {reason}. {remedy[0].upper()}{remedy[1:]}",
        name=name,
        split=split,
        tried=[("tfds", reason)],
        remedies=[remedy],
    )


def stream_batches(
    source: Sequence[dict],
    *,
    batch_size: int,
    key=None,
    remainder: str = "drop",
    image_key: str = "image",
    label_key: str = "label",
) -> Iterator[dict]:
    """Reads one epoch from a random-access source, batch by batch, on the host.

    Args:
      source: ``len(source)`` = N; ``source[i]`` a dict with ``image_key`` (uint8
        ``(H, W, C)``) and ``label_key`` (an int).
      batch_size: B.
      key: a ``jax.random`` key to shuffle with, or None for the stored order.
      remainder: ``"drop"`` or ``"pad"``, as in `epoch_indices`; padded slots repeat
        record 0 and are masked out.
      image_key: the image field's name.
      label_key: the label field's name.

    Yields:
      dicts of NumPy arrays: ``'image'`` ``(B, H, W, C)``, ``'label'`` int32 ``(B,)``,
      ``'mask'`` bool ``(B,)``.
    """
    indices, mask = epoch_indices(key, len(source), batch_size=batch_size, remainder=remainder)
    indices, mask = np.asarray(indices), np.asarray(mask)
    for row, row_mask in zip(indices, mask):
        examples = [source[int(i)] for i in row]
        yield {
            "image": np.stack([np.asarray(e[image_key]) for e in examples]),
            "label": np.asarray([e[label_key] for e in examples]).astype(np.int32),
            "mask": row_mask,
        }


class SourceReader:
    """Reads batches of a random-access source of ``{'image', 'label'}`` dicts on the host.

    The streaming path of `cnnlab.train.fit` and `evaluate`: ``source[i]`` is a dict with
    ``'image'`` (uint8 ``(H, W, C)``) and ``'label'`` (an int), from a ``tfds.data_source``
    (`open_source`), a grain ``MapDataset`` or a list of dicts. Nothing is held on the device
    but the current batch.

    Attributes:
      n: the number of records.
      image_shape: record 0's image shape, which every record must share.
      validate: None, or ``(images, labels) -> None`` raising ValueError for a bad batch; the
        error is re-raised naming the records read.
    """

    def __init__(self, source, *, fn: str, name: str, first: Mapping | None = None):
        first = source[0] if first is None else first  # record 0, when the caller has read it
        if not isinstance(first, Mapping) or "image" not in first or "label" not in first:
            raise TypeError(
                f"{fn}: {name} is a source whose records must be dicts with 'image' and 'label'; "
                f"record 0 is {type(first).__name__}"
                + (f" with keys {sorted(first)}" if isinstance(first, Mapping) else "")
            )
        self.source, self.n = source, len(source)
        self.image_shape = np.asarray(first["image"]).shape
        self.fn, self.name = fn, name
        self.validate: Callable[[np.ndarray, np.ndarray], None] | None = None

    def batch(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images ``(B, H, W, C)`` and int32 labels ``(B,)`` of records ``rows``."""
        rows = [int(i) for i in rows]
        # Looked up on the type, as Python looks up every special method.
        getitems = getattr(type(self.source), "__getitems__", None)
        records = getitems(self.source, rows) if getitems is not None else [self.source[i] for i in rows]
        images = [np.asarray(r["image"]) for r in records]
        for i, im in zip(rows, images):
            if im.shape != self.image_shape:
                raise ValueError(
                    f"{self.fn}: {self.name} records must all hold images of shape {self.image_shape}; "
                    f"record {i} holds {im.shape}"
                )
        images, labels = np.stack(images), np.asarray([r["label"] for r in records])
        try:
            if self.validate is not None:
                self.validate(images, labels)
            elif not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"{self.fn}: {self.name} labels must be integers; got dtype {labels.dtype}")
        except ValueError as e:  # name the records, not the rows of this batch
            raise ValueError(f"{e} [records {rows[0]}..{rows[-1]} of the source, read in this batch]") from None
        return images, labels.astype(np.int32)


def as_reader(data, *, fn: str, name: str) -> SourceReader | None:
    """A `SourceReader` when ``data`` is a non-empty random-access source of dicts, else None."""
    if hasattr(data, "shape") or (
        isinstance(data, tuple | list) and len(data) == 2 and all(hasattr(a, "shape") for a in data)
    ):
        return None  # an array, or (inputs, targets)
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and len(data):
        first = data[0]
        if isinstance(first, Mapping):
            return SourceReader(data, fn=fn, name=name, first=first)
    return None
