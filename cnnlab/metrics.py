"""cnnlab.metrics: held-out measurements the studies report, as NumPy numbers.

Segmentation: `binary_accuracy` (a `fit` metric), `confusion_matrix`, `iou_per_class`, `pixel_accuracy`
(through `cnnlab.train.accuracy`, the one accuracy training and evaluation use), `foreground_recall`,
`majority_baseline`.
Generators: `pixel_variance`, `rms_distance_to`, `mean_pairwise_distance` and `per_class_diversity`
(how alike the images are), `share_as_intended` and `judge` (how often a classifier reads the intended
class), `class_mean_probability` (how a classifier reads each class's mean image).

Images are ``(N, H, W, C)``: uint8 is read as ``value / 255``, floats as given (in [0, 1]).
"""

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab import train

__all__ = [
    "binary_accuracy",
    "class_mean_probability",
    "confusion_matrix",
    "foreground_recall",
    "iou_per_class",
    "judge",
    "majority_baseline",
    "mean_pairwise_distance",
    "per_class_diversity",
    "pixel_accuracy",
    "pixel_variance",
    "rms_distance_to",
    "share_as_intended",
]


# -- segmentation -----------------------------------------------------------------------------
def binary_accuracy(probabilities, targets):
    """Per example, the share of positions where ``probabilities > 0.5`` equals the 0/1 ``targets``,
    float32 ``(B,)``; a `cnnlab.train.fit` metric. It is Keras's ``"accuracy"`` for a sigmoid output
    trained with binary cross-entropy (``keras.metrics.binary_accuracy``, threshold 0.5): the pixel
    accuracy of a foreground mask, as seed 002's segmentation reports it."""
    if probabilities.shape != targets.shape or probabilities.ndim < 1:
        raise ValueError(
            "binary_accuracy: needs probabilities and 0/1 targets of one shape (B, ...); got "
            f"{tuple(probabilities.shape)} and {tuple(targets.shape)}"
        )
    hit = ((probabilities > 0.5).astype(jnp.float32) == targets).astype(jnp.float32)
    return hit.reshape(hit.shape[0], -1).mean(axis=1)


def confusion_matrix(true, pred, num_classes: int) -> np.ndarray:
    """Pixel counts ``C[t, p]``: pixels of true class ``t`` predicted as ``p``.

    Args:
      true: integer class map, any shape.
      pred: integer class map of the same shape.
      num_classes: K; classes must lie in ``[0, K)``.

    Returns:
      int64 ``(K, K)``.

    Example:
      >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
      [[1, 0], [1, 1]]
    """
    t, p = np.asarray(true), np.asarray(pred)
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: true {t.shape} and pred {p.shape} must have the same shape")
    for a, what in ((t, "true"), (p, "pred")):
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"confusion_matrix: {what} must hold integer classes; got {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {what} holds classes outside [0, {num_classes}): {a.min()}..{a.max()}")
    flat = t.astype(np.int64).ravel() * num_classes + p.astype(np.int64).ravel()
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(confusion) -> np.ndarray:
    """Intersection over union of each class from a confusion matrix: ``C[k,k] / (row_k + col_k - C[k,k])``.

    Args:
      confusion: ``(K, K)`` counts, rows true, columns predicted.

    Returns:
      float ``(K,)``; NaN for a class absent from both the truth and the prediction (union 0).
      The mean IoU "over classes present" is ``np.nanmean`` of it.
    """
    c = np.asarray(confusion, np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"iou_per_class: confusion must be square (K, K); got {c.shape}")
    inter = np.diag(c)
    union = c.sum(0) + c.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def pixel_accuracy(logits, masks) -> float:
    """The share of pixels whose arg-max class is the true one: the mean over images of `train.accuracy`.

    Every image has as many pixels, so this is ``trace(C) / sum(C)`` of the `confusion_matrix`
    (exactly when ``H * W`` is a power of two; otherwise up to float32 rounding of each image's share).

    Args:
      logits: ``(N, H, W, K)`` class scores.
      masks: ``(N, H, W)`` integer true classes.

    Returns:
      A float in [0, 1].
    """
    per_image = train.accuracy(jnp.asarray(logits), jnp.asarray(masks))
    return float(np.mean(np.asarray(per_image, np.float64)))


def foreground_recall(confusion, background: int = 0) -> tuple[float, float]:
    """Finding the objects against naming them, over the true non-``background`` pixels.

    Args:
      confusion: ``(K, K)`` counts, rows true, columns predicted.
      background: the background class.

    Returns:
      ``(found, named)``: the share of true foreground pixels predicted as any foreground class,
      and the share predicted as their own class.
    """
    c = np.asarray(confusion)
    fg = np.arange(len(c)) != background
    total = c[fg, :].sum()
    return float(c[np.ix_(fg, fg)].sum() / total), float(np.trace(c[np.ix_(fg, fg)]) / total)


def majority_baseline(train_masks, test_masks, num_classes: int) -> tuple[int, float, float]:
    """Predicting the training masks' most common class for every held-out pixel.

    Args:
      train_masks: integer ``(N, H, W)`` classes in ``[0, K)``.
      test_masks: integer ``(M, H', W')`` classes in ``[0, K)``.
      num_classes: K.

    Returns:
      ``(majority class, its pixel accuracy, its mean IoU over the classes present)``.
    """
    majority = int(np.bincount(np.ravel(train_masks), minlength=num_classes).argmax())
    constant = np.full_like(test_masks, majority)
    iou = iou_per_class(confusion_matrix(test_masks, constant, num_classes))
    acc = pixel_accuracy(jax.nn.one_hot(constant, num_classes), test_masks)
    return majority, acc, float(np.nanmean(iou))


# -- generated images ------------------------------------------------------------------------
def _as_float_images(name: str, images) -> np.ndarray:
    """``(N, H, W, C)`` float64 in [0, 1] from uint8 (/255) or floats."""
    a = np.asarray(images)
    if a.ndim != 4:
        raise ValueError(f"{name}: images must be (N, H, W, C); got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name}: images must be uint8 or floats in [0, 1]; got {a.dtype}")
    return a.astype(np.float64)


def pixel_variance(images) -> float:
    """The variance across images of each pixel, averaged over pixels: 0 when all images are equal.

    Args:
      images: ``(N, H, W, C)`` uint8 (scaled by 1/255) or floats in [0, 1], N >= 2.

    Returns:
      ``mean over pixels of var over images`` (population variance).
    """
    a = _as_float_images("pixel_variance", images)
    if len(a) < 2:
        raise ValueError(f"pixel_variance: needs at least 2 images; got {len(a)}")
    return float(a.var(axis=0).mean())


def rms_distance_to(images, reference) -> float:
    """The mean over images of the RMS pixel difference to one ``reference`` image.

    Args:
      images: ``(N, H, W, C)`` uint8 or floats in [0, 1].
      reference: ``(H, W, C)`` floats in [0, 1] (e.g. the data's mean digit).

    Returns:
      ``mean_i sqrt(mean_pixels (images[i] - reference)^2)``.
    """
    a = _as_float_images("rms_distance_to", images)
    ref = np.asarray(reference, np.float64)
    if ref.shape != a.shape[1:]:
        raise ValueError(f"rms_distance_to: reference must have shape {a.shape[1:]} (one image); got {ref.shape}")
    return float(np.sqrt(((a - ref) ** 2).reshape(len(a), -1).mean(1)).mean())


def mean_pairwise_distance(images) -> float:
    """Diversity: the mean over pairs ``i < j`` of the RMS pixel distance between two images.

    Args:
      images: ``(N, H, W, C)`` uint8 or floats in [0, 1], N >= 2.

    Returns:
      ``mean_{i<j} sqrt(mean_pixels (x_i - x_j)^2)``; 0 when all images are equal.
    """
    a = _as_float_images("mean_pairwise_distance", images)
    n = len(a)
    if n < 2:
        raise ValueError(f"mean_pairwise_distance: needs at least 2 images; got {n}")
    flat = a.reshape(n, -1)
    sq = (flat**2).sum(1)
    # |x - y|^2 = |x|^2 + |y|^2 - 2 x.y, clamped at 0 against rounding
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T, 0.0) / flat.shape[1]
    iu = np.triu_indices(n, k=1)
    return float(np.sqrt(d2[iu]).mean())


def per_class_diversity(images, classes, num_classes: int = 10) -> np.ndarray:
    """`mean_pairwise_distance` within each class: ``(K,)``, NaN where a class has fewer than 2 images."""
    a, c = np.asarray(images), np.asarray(classes)
    if c.shape != (len(a),):
        raise ValueError(f"per_class_diversity: classes must be ({len(a)},); got {c.shape}")
    return np.array([mean_pairwise_distance(a[c == k]) if (c == k).sum() >= 2 else np.nan for k in range(num_classes)])


# -- judged by a classifier ------------------------------------------------------------------
def share_as_intended(predicted, intended, num_classes: int = 10) -> tuple[float, np.ndarray]:
    """How often the judge's class is the intended one, overall and per intended class.

    Args:
      predicted: ``(N,)`` integer classes the judge gave.
      intended: ``(N,)`` integer classes the generator was asked for.
      num_classes: K.

    Returns:
      ``(share, per_class)``: the overall share (float) and a ``(K,)`` array of shares per
      intended class (NaN for a class never asked for).

    Raises:
      ValueError: shapes differ, not 1-D integer, empty, or classes outside ``[0, K)``.
    """
    p, t = np.asarray(predicted), np.asarray(intended)
    for a, what in ((p, "predicted"), (t, "intended")):
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"share_as_intended: {what} must be a 1-D integer array; got {a.shape} {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"share_as_intended: {what} holds classes outside [0, {num_classes})")
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"share_as_intended: predicted {p.shape} and intended {t.shape} must be equal and non-empty")
    hit = (p == t).astype(np.float64)
    counts = np.bincount(t, minlength=num_classes).astype(np.float64)
    hits = np.bincount(t, weights=hit, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(counts > 0, hits / counts, np.nan)
    return float(hit.mean()), per_class


def judge(classifier, images, intended, num_classes: int = 10) -> tuple[float, np.ndarray, np.ndarray]:
    """Classifies ``images`` with ``classifier`` and scores them against the ``intended`` classes.

    Args:
      classifier: an NNX classifier returning ``(N, K)`` logits (run in evaluation mode).
      images: ``(N, H, W, C)`` uint8 or floats in [0, 1].
      intended: ``(N,)`` integer classes.
      num_classes: K.

    Returns:
      ``(share, per_class, predicted)``: see `share_as_intended`; ``predicted`` is ``(N,)``.
    """
    logits = np.asarray(train.predict(classifier, images))
    if logits.shape != (len(images), num_classes):
        raise ValueError(f"judge: classifier must give ({len(images)}, {num_classes}) logits; got {logits.shape}")
    predicted = logits.argmax(-1)
    share, per_class = share_as_intended(predicted, intended, num_classes)
    return share, per_class, predicted


def class_mean_probability(classifier, images, labels, num_classes: int = 10) -> tuple[np.ndarray, float]:
    """How ``classifier`` reads each class's mean image (a class-conditional generator's optimum).

    Args:
      classifier: an NNX classifier returning ``(K, K)`` logits for K images.
      images: ``(N, H, W, C)`` uint8 (0..255); every class in ``[0, K)`` must occur.
      labels: ``(N,)`` integer classes.
      num_classes: K.

    Returns:
      ``(p, share)``: ``p[k]`` the softmax probability of class k given class k's mean image
      (float32 ``(K,)``), and the share of the K means whose arg-max is their own class.
    """
    x, y = np.asarray(images), np.asarray(labels)
    means = np.stack([x[y == c].astype(np.float32).mean(0) / 255.0 for c in range(num_classes)])
    p = np.asarray(jax.nn.softmax(train.predict(classifier, means), axis=-1))
    own = np.arange(num_classes)
    return p[own, own], float(np.mean(p.argmax(-1) == own))
