"""What `fit`, `fit_many` and `evaluate` accept, checked once on the host, and its placement.

Data is a `cnnlab.data.Dataset`, a pair ``(inputs, targets)`` of arrays, or (for `fit` and
`evaluate`) a random-access source of ``{'image', 'label'}`` dicts read batch by batch
(`cnnlab.data.streaming.SourceReader`). Inputs and float targets are refused when they hold
NaN/inf, and class labels when they are not integers in ``[0, classes)``, before anything
compiles.
"""

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnlab import data as cdata
from cnnlab.data.streaming import as_reader
from cnnlab.train import guards, objectives

__all__ = ["Data", "Mesh", "check_data", "check_positive", "jsonable", "read", "replicate", "to_device"]


def check_positive(fn: str, what: str, value) -> None:
    """Raises ValueError unless ``value`` is a positive int (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{fn}: {what} must be a positive int; got {value!r}")


def _arrays(fn: str, name: str, data) -> tuple:
    """``(inputs, targets)`` from a Dataset or a pair of arrays, checked to pair up."""
    if isinstance(data, cdata.Dataset):
        return data.images, data.labels
    if not isinstance(data, tuple | list) or len(data) != 2:
        of = f" of length {len(data)}" if isinstance(data, tuple | list) else ""
        raise TypeError(
            f"{fn}: {name} must be a cnnlab.data.Dataset or a pair (inputs, targets) of arrays; "
            f"got {type(data).__name__}{of}"
        )
    x, y = data
    for a, what in ((x, "inputs"), (y, "targets")):
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            raise TypeError(f"{fn}: {name} {what} must be an array; got {type(a).__name__}")
    if x.shape[:1] != y.shape[:1] or x.ndim == 0:
        raise ValueError(
            f"{fn}: {name} inputs and targets must share their leading dimension N; got "
            f"inputs {tuple(x.shape)}, targets {tuple(y.shape)}"
        )
    return x, y


class Data:
    """One data argument: host arrays ``x``, ``y``, or a streaming ``reader``."""

    def __init__(self, fn: str, name: str, data, *, stream: bool = True):
        reader = None if isinstance(data, cdata.Dataset) or not stream else as_reader(data, fn=fn, name=name)
        self.name, self.reader = name, reader
        self.x, self.y = (None, None) if reader is not None else _arrays(fn, name, data)
        self.n = reader.n if reader is not None else int(self.x.shape[0])

    @property
    def example_shape(self) -> tuple:
        return self.reader.image_shape if self.reader is not None else tuple(self.x.shape[1:])


def read(fn: str, name: str, data, *, stream: bool = True) -> Data | None:
    """``data`` as a `Data` (None stays None), its form checked."""
    return None if data is None else Data(fn, name, data, stream=stream)


def check_data(fn: str, graph_eval, model_state, loss_name: str, sets) -> int | None:
    """Refuses non-finite inputs and targets, and class labels the model cannot have.

    ``sets`` holds `Data` (or None). A streaming reader's batches are checked as they are read.

    Returns:
      The model's number of classes for a classification loss, else None.
    """
    classes = None
    if loss_name in objectives.CLASSIFICATION:
        first = next(d for d in sets if d is not None)
        shape = jax.ShapeDtypeStruct((1, *first.example_shape), jnp.float32)
        out = jax.eval_shape(lambda s, v: nnx.merge(graph_eval, *s)(v), model_state, shape)
        classes = int(out.shape[-1])
    for d in sets:
        if d is None:
            continue
        if d.reader is not None:
            d.reader.validate = functools.partial(_check_batch, fn, d.name, classes)
            continue
        guards.check_finite(fn, f"{d.name} inputs", d.x)
        if d.y is d.x:
            continue
        if classes is not None:
            guards.check_labels(fn, f"{d.name} labels", d.y, classes)
        else:
            guards.check_finite(fn, f"{d.name} targets", d.y)
    return classes


def _check_batch(fn: str, name: str, classes, images, labels) -> None:
    guards.check_finite(fn, f"{name} images", images)
    if classes is not None:
        guards.check_labels(fn, f"{name} labels", labels, classes)
    elif not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{fn}: {name} labels must be integers; got dtype {labels.dtype}")


def to_device(d: Data, sharding=None):
    """``(x, y)`` on the device (a target that is the input is copied once), or the reader."""
    if d.reader is not None:
        return d.reader
    xd = jax.device_put(d.x, sharding)
    return xd, xd if d.y is d.x else jax.device_put(d.y, sharding)


@dataclasses.dataclass(frozen=True)
class Mesh:
    """Data parallelism over ``devices``: a replicated and a batch-split sharding, or None and None."""

    replicated: Any = None
    batch: Any = None

    @classmethod
    def of(cls, train: Data, batch_size: int, devices) -> "Mesh":
        if devices is None:
            return cls()
        if train.reader is not None:
            raise ValueError("fit: devices (data parallelism) needs device-resident train_data, not a streaming source")
        devices = list(devices)
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise TypeError(f"fit: devices must be a non-empty sequence of jax.Device; got {devices!r}")
        if batch_size % len(devices):
            raise ValueError(
                f"fit: batch_size {batch_size} must be a multiple of the {len(devices)} devices it is split over"
            )
        mesh = jax.sharding.Mesh(np.asarray(devices), ("data",))
        P = jax.sharding.PartitionSpec
        return cls(jax.sharding.NamedSharding(mesh, P()), jax.sharding.NamedSharding(mesh, P("data")))


def replicate(tree, sharding):
    """``tree`` placed on every device of ``sharding`` (fully replicated).

    With several processes (``jax.distributed``), the mesh holds devices this process cannot
    address, which ``device_put`` refuses for arrays already on a device. Every process
    computed the same values (same seed, same checkpoint), so each contributes copies on its
    own devices and the global array is assembled from them.
    """
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)

    def one(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:  # e.g. restored by orbax
            if a.sharding.is_equivalent_to(sharding, a.ndim):
                return a
            a = a.addressable_data(0)  # a whole copy: fit only ever stores replicated state
        local = [jax.device_put(a, d) for d in sharding.addressable_devices_indices_map(a.shape)]
        return jax.make_array_from_single_device_arrays(a.shape, sharding, local)

    return jax.tree.map(one, tree)


def jsonable(v):
    """``v`` with tuples as lists and functions or schedules by name: storable as JSON."""
    if isinstance(v, Mapping):
        return {str(k): jsonable(u) for k, u in v.items()}
    if isinstance(v, tuple | list):
        return [jsonable(u) for u in v]
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return getattr(v, "__name__", type(v).__name__)
