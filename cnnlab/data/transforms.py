"""Transforms: scaling, standardisation, noise, augmentation, labels, class subsets, splits.

Array transforms are pure JAX functions (randomness only through an explicit ``key``), so
they run eagerly or inside a jitted epoch. Dataset transforms (`select_classes`,
`train_val_split`) work on the host-side `Dataset` before it goes to the device.
"""

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.data.dataset import Dataset


def _check_nhwc(fn: str, x) -> None:
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must be NHWC (N, H, W, C); got shape {tuple(x.shape)}")


def _check_float(fn: str, x) -> None:
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: x must be floating (scale uint8 images with to_float first); got {x.dtype}")


def _probability(fn: str, name: str, p) -> float:
    if not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{fn}: {name} must be a Python number in [0, 1]; got {p!r}")
    return float(p)


def to_float(images, *, dtype=jnp.float32) -> jax.Array:
    """Scales uint8 images to floats in [0, 1]: ``images / 255``.

    Args:
      images: uint8, any shape, typically ``(N, H, W, C)``.
      dtype: the floating dtype of the result.

    Returns:
      ``dtype`` array, same shape, values in [0, 1].
    """
    images = jnp.asarray(images)
    if images.dtype != jnp.uint8:
        raise TypeError(f"to_float: images must be uint8 (0..255); got {images.dtype}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"to_float: dtype must be floating; got {jnp.dtype(dtype)}")
    return images.astype(dtype) / jnp.asarray(255, dtype)


def channel_stats(x) -> tuple[jax.Array, jax.Array]:
    """Per-channel mean and standard deviation, for `standardize`.

    Compute them on the training split and apply them to every split.

    Args:
      x: floating ``(N, H, W, C)``.

    Returns:
      ``(mean, std)``, each float32 ``(C,)``, over the N, H and W axes (population std).
    """
    x = jnp.asarray(x)
    _check_nhwc("channel_stats", x)
    _check_float("channel_stats", x)
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean = jnp.mean(x, axis=(0, 1, 2), keepdims=True)
    var = jnp.maximum(jnp.mean(jnp.square(x - mean), axis=(0, 1, 2)), 0.0)
    return mean.reshape(-1).astype(jnp.float32), jnp.sqrt(var).astype(jnp.float32)


def standardize(x, mean, std) -> jax.Array:
    """Per-channel standardisation: ``(x - mean) / std``.

    Args:
      x: floating ``(N, H, W, C)``.
      mean: ``(C,)``, e.g. from `channel_stats` on the training split.
      std: ``(C,)``, all positive.

    Returns:
      Same shape and dtype as ``x``.
    """
    x, mean, std = jnp.asarray(x), jnp.asarray(mean), jnp.asarray(std)
    _check_nhwc("standardize", x)
    _check_float("standardize", x)
    c = x.shape[-1]
    for arg, v in (("mean", mean), ("std", std)):
        if v.shape != (c,):
            raise ValueError(f"standardize: {arg} must have shape ({c},) for x {tuple(x.shape)}; got {tuple(v.shape)}")
    shape = (1, 1, 1, c)
    return (x - mean.astype(x.dtype).reshape(shape)) / std.astype(x.dtype).reshape(shape)


def salt_and_pepper(key, x, *, p_high: float = 0.1, p_low: float = 0.1) -> jax.Array:
    """Salt-and-pepper corruption of the denoising study.

    Each pixel independently becomes 1 (white) with probability ``p_high``, 0 (black) with
    probability ``p_low``, and keeps its value otherwise; all C channels of a pixel move
    together. The study uses ``p_high = p_low = 0.1``.

    Args:
      key: a ``jax.random`` key.
      x: floating ``(N, H, W, C)`` in [0, 1].
      p_high: probability of 1, a Python number in [0, 1].
      p_low: probability of 0, a Python number in [0, 1]; ``p_high + p_low <= 1``.

    Returns:
      Same shape and dtype as ``x``.
    """
    x = jnp.asarray(x)
    _check_nhwc("salt_and_pepper", x)
    _check_float("salt_and_pepper", x)
    p_high = _probability("salt_and_pepper", "p_high", p_high)
    p_low = _probability("salt_and_pepper", "p_low", p_low)
    if p_high + p_low > 1.0:
        raise ValueError(f"salt_and_pepper: p_high + p_low must be <= 1; got {p_high} + {p_low}")
    u = jax.random.uniform(key, x.shape[:-1] + (1,), dtype=jnp.float32)
    one, zero = jnp.ones((), x.dtype), jnp.zeros((), x.dtype)
    return jnp.where(u < p_high, one, jnp.where(u < p_high + p_low, zero, x))


def salt_and_pepper_mse(x, *, p_high: float = 0.1, p_low: float = 0.1) -> np.ndarray:
    """The expected MSE `salt_and_pepper` adds to each image: the mean of ``p_high (1 - x)^2 + p_low x^2``.

    Args:
      x: the clean ``(N, H, W, C)`` images in [0, 1]; ``p_high``, ``p_low`` as `salt_and_pepper` takes them.

    Returns:
      float64 ``(N,)``.
    """
    x = np.asarray(x, np.float64)
    _check_nhwc("salt_and_pepper_mse", x)
    p_high = _probability("salt_and_pepper_mse", "p_high", p_high)
    p_low = _probability("salt_and_pepper_mse", "p_low", p_low)
    return (p_high * (1 - x) ** 2 + p_low * x**2).mean(axis=(1, 2, 3))


def pad_to(images, size: int) -> np.ndarray:
    """Zero-pads NHWC images to ``size x size``, centred; an odd extra pixel goes bottom/right (as Keras SAME).

    LeNet-5 met MNIST this way (28x28 padded to 32x32); `models.CifarCNN` needs 32x32 inputs.

    Args:
      images: ``(N, H, W, C)`` host array (e.g. uint8) with ``H, W <= size``.
      size: the target height and width.

    Returns:
      ``(N, size, size, C)`` NumPy array, same dtype, the original pixels unchanged in the middle.
    """
    images = np.asarray(images)
    _check_nhwc("pad_to", images)
    n, h, w, c = images.shape
    if h > size or w > size:
        raise ValueError(f"pad_to: images must be at most {size}x{size}; got {h}x{w}")
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(images, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)))


def one_hot(labels, num_classes: int, *, dtype=jnp.float32) -> jax.Array:
    """One-hot encoding.

    Args:
      labels: integer ``(N,)`` (any shape), each in ``[0, num_classes)``; out-of-range labels
        give all-zero rows.
      num_classes: K.
      dtype: dtype of the result.

    Returns:
      ``dtype`` ``labels.shape + (K,)``.
    """
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"one_hot: labels must be integers; got {labels.dtype}")
    if not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int; got {num_classes!r}")
    classes = jnp.arange(num_classes, dtype=labels.dtype).reshape((1,) * labels.ndim + (num_classes,))
    return (labels[..., None] == classes).astype(dtype)


def flip_horizontal(x, flip) -> jax.Array:
    """Mirrors the chosen images left to right.

    Args:
      x: ``(N, H, W, C)``.
      flip: bool ``(N,)``; True mirrors that image.

    Returns:
      Same shape and dtype as ``x``.
    """
    x, flip = jnp.asarray(x), jnp.asarray(flip)
    _check_nhwc("flip_horizontal", x)
    if flip.shape != x.shape[:1] or flip.dtype != jnp.bool_:
        raise ValueError(f"flip_horizontal: flip must be bool ({x.shape[0]},); got {flip.dtype} {tuple(flip.shape)}")
    return jnp.where(flip[:, None, None, None], x[:, :, ::-1, :], x)


def random_flip(key, x) -> jax.Array:
    """Mirrors each image left to right with probability 1/2 (`flip_horizontal`).

    Args:
      key: a ``jax.random`` key.
      x: ``(N, H, W, C)``.

    Returns:
      Same shape and dtype as ``x``.
    """
    x = jnp.asarray(x)
    _check_nhwc("random_flip", x)
    return flip_horizontal(x, jax.random.bernoulli(key, 0.5, (x.shape[0],)))


def translate(x, shifts) -> jax.Array:
    """Shifts each image by whole pixels, filling the uncovered border with zeros.

    ``out[n, i, j] = x[n, i - dy[n], j - dx[n]]`` where that index is inside the image, else 0.

    Args:
      x: ``(N, H, W, C)``.
      shifts: integer ``(N, 2)`` of ``(dy, dx)``; positive moves content down / right.

    Returns:
      Same shape and dtype as ``x``.
    """
    x, shifts = jnp.asarray(x), jnp.asarray(shifts)
    _check_nhwc("translate", x)
    if shifts.shape != (x.shape[0], 2) or not jnp.issubdtype(shifts.dtype, jnp.integer):
        raise ValueError(
            f"translate: shifts must be integer ({x.shape[0]}, 2) for x {tuple(x.shape)}; "
            f"got {shifts.dtype} {tuple(shifts.shape)}"
        )
    _, h, w, _ = x.shape
    shifts = shifts.astype(jnp.int32)

    def one(image, shift):
        rows = jnp.arange(h, dtype=jnp.int32) - shift[0]
        cols = jnp.arange(w, dtype=jnp.int32) - shift[1]
        moved = image[jnp.clip(rows, 0, h - 1)][:, jnp.clip(cols, 0, w - 1)]
        inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
        return jnp.where(inside[:, :, None], moved, jnp.zeros((), image.dtype))

    return jax.vmap(one)(x, shifts)


def random_translate(key, x, *, max_shift: int = 2) -> jax.Array:
    """Shifts each image by ``dy, dx`` drawn uniformly from ``[-max_shift, max_shift]`` (`translate`).

    Args:
      key: a ``jax.random`` key.
      x: ``(N, H, W, C)``.
      max_shift: largest shift in pixels along each axis, a non-negative int.

    Returns:
      Same shape and dtype as ``x``.
    """
    x = jnp.asarray(x)
    _check_nhwc("random_translate", x)
    if not isinstance(max_shift, numbers.Integral) or max_shift < 0:
        raise ValueError(f"random_translate: max_shift must be a non-negative int; got {max_shift!r}")
    shifts = jax.random.randint(key, (x.shape[0], 2), -max_shift, max_shift + 1, dtype=jnp.int32)
    return translate(x, shifts)


def _subset(ds: Dataset, index: np.ndarray, labels=None, class_names=None, note: str = "") -> Dataset:
    return Dataset(
        images=ds.images[index],
        labels=ds.labels[index] if labels is None else labels,
        class_names=ds.class_names if class_names is None else class_names,
        source=ds.source + note,
        name=ds.name,
        split=ds.split,
    )


def select_classes(ds: Dataset, classes, *, relabel: bool = False) -> Dataset:
    """Keeps only the examples of the given classes (e.g. digits 1, 5 and 6).

    Args:
      ds: the dataset.
      classes: class indices to keep, distinct, each in ``[0, ds.num_classes)``.
      relabel: if True, labels become positions in ``classes`` (``classes=(1, 5, 6)`` maps
        1, 5, 6 to 0, 1, 2) and ``class_names`` shrinks to match; if False, labels and
        ``class_names`` are unchanged.

    Returns:
      A `Dataset` with the kept examples in their original order.
    """
    classes = [int(c) for c in np.asarray(classes).reshape(-1)] if np.ndim(classes) else [int(classes)]
    if not classes or len(set(classes)) != len(classes) or any(not 0 <= c < ds.num_classes for c in classes):
        raise ValueError(f"select_classes: classes must be distinct indices in [0, {ds.num_classes}); got {classes}")
    keep = np.isin(ds.labels, classes)
    index = np.flatnonzero(keep)
    note = f"; classes {classes}"
    if not relabel:
        return _subset(ds, index, note=note)
    lookup = np.full(ds.num_classes, -1, np.int32)
    lookup[classes] = np.arange(len(classes), dtype=np.int32)
    names = tuple(ds.class_names[c] for c in classes)
    return _subset(ds, index, labels=lookup[ds.labels[index]], class_names=names, note=note + " relabelled 0..")


def train_val_split(ds: Dataset, *, val_fraction: float, key) -> tuple[Dataset, Dataset]:
    """Splits a dataset at random into training and validation parts.

    Args:
      ds: the dataset, N examples.
      val_fraction: share for validation, in (0, 1); the validation part has
        ``round(val_fraction * N)`` examples, at least 1 and at most N - 1.
      key: a ``jax.random`` key; the same key gives the same split.

    Returns:
      ``(train, val)``, disjoint, together every example once, each in original order.
    """
    if not isinstance(val_fraction, numbers.Real) or not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be in (0, 1); got {val_fraction!r}")
    n = len(ds)
    n_val = int(round(float(val_fraction) * n))
    if not 1 <= n_val <= n - 1:
        raise ValueError(
            f"train_val_split: val_fraction={val_fraction} of {n} examples gives {n_val} for "
            "validation; both parts need at least one"
        )
    perm = np.asarray(jax.random.permutation(key, n))
    val = np.sort(perm[:n_val])
    train = np.sort(perm[n_val:])
    return _subset(ds, train, note="; train part"), _subset(ds, val, note="; validation part")
