"""Streaming for data too large for the device: batches read from a random-access source.

A source is anything with ``len`` and ``[i]`` returning ``{'image': ..., 'label': ...}``:
a ``tfds.data_source`` (see `open_source`), a list of dicts, or a grain ``MapDataset``.
Indices come from the same sampler as the device path (`epoch_indices`), so a key gives
the same order in both.
"""

from collections.abc import Iterator, Sequence

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
