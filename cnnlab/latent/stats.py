"""Class-conditional Gaussians in a latent space: per-class mean and covariance, and samples from them."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["class_stats", "sample_class"]


@functools.partial(jax.jit, static_argnames="num_classes")
def _class_stats(z, labels, num_classes):
    def one(k):
        w = (labels == k).astype(z.dtype)  # (N,)
        count = jnp.sum(w)
        mean = w @ z / count  # (D,)
        diff = (z - mean[None]) * w[:, None]  # rows of other classes are zeroed
        return mean, diff.T @ diff / (count - 1)  # unbiased, as np.cov

    return jax.lax.map(one, jnp.arange(num_classes, dtype=labels.dtype))


def class_stats(z, labels, num_classes: int) -> tuple[jax.Array, jax.Array]:
    """The mean and covariance of the codes of each class.

    Codes of any shape are flattened to ``D`` numbers. The covariance is the unbiased one
    (divided by ``n_k - 1``), as ``np.cov`` computes it; each class is one pass over the codes
    (``O(N D)`` memory, not ``O(N K D)``), all classes in one compiled ``lax.map``.

    Args:
      z: floating ``(N, ...)`` codes, e.g. ``encode(model, train.images)``.
      labels: integer ``(N,)`` classes in ``[0, num_classes)``; concrete (checked on the host).
      num_classes: ``K``.

    Returns:
      ``(means, covs)``: ``(K, D)`` and ``(K, D, D)``.

    Raises:
      ValueError: mismatched lengths, labels out of range, or a class with fewer than 2 codes
        (its covariance is undefined).
      TypeError: non-floating codes or non-integer labels.

    Example:
      >>> z = jnp.array([[0.0, 1.0], [2.0, 3.0], [4.0, 0.0], [6.0, 2.0]])  # e.g. encode(model, train.images)
      >>> means, covs = class_stats(z, jnp.array([0, 0, 1, 1]), 2)
      >>> means
      Array([[1., 2.],
             [5., 1.]], dtype=float32)
      >>> covs[0]
      Array([[2., 2.],
             [2., 2.]], dtype=float32)
      >>> sample_class(jax.random.key(0), means, covs, jnp.arange(2)).shape  # a new code of each class
      (2, 2)
    """
    z = jnp.asarray(z)
    labels_np = np.asarray(labels)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"class_stats: num_classes must be a positive int; got {num_classes!r}")
    if z.ndim < 2:
        raise ValueError(f"class_stats: z must be codes (N, ...) with at least 2 axes; got shape {z.shape}")
    if not jnp.issubdtype(z.dtype, jnp.floating):
        raise TypeError(f"class_stats: z must be floating; got {z.dtype}")
    if not np.issubdtype(labels_np.dtype, np.integer):
        raise TypeError(f"class_stats: labels must be integers; got {labels_np.dtype}")
    if labels_np.shape != (z.shape[0],):
        raise ValueError(f"class_stats: labels must be ({z.shape[0]},) to match z {z.shape}; got {labels_np.shape}")
    if labels_np.size and (labels_np.min() < 0 or labels_np.max() >= num_classes):
        raise ValueError(
            f"class_stats: labels must be in [0, {num_classes}); got values from {labels_np.min()} to {labels_np.max()}"
        )
    counts = np.bincount(labels_np, minlength=num_classes)
    few = np.flatnonzero(counts < 2)
    if few.size:
        raise ValueError(
            f"class_stats: every class needs at least 2 codes for a covariance; class(es) {few.tolist()} "
            f"have {counts[few].tolist()}"
        )
    flat = z.reshape(z.shape[0], -1)
    return _class_stats(flat, jnp.asarray(labels_np, jnp.int32), num_classes)


@jax.jit
def _sample(key, means, covs, classes):
    # A square root of each covariance from its eigendecomposition, eigenvalues clamped at 0:
    # exact for the rank-deficient covariances of classes with fewer codes than dimensions,
    # where a Cholesky factor would need jitter (jax.random.multivariate_normal's method="eigh").
    # Eigenvalues within rounding of zero (below D eps max|w|, numpy.linalg.matrix_rank's rule) are
    # zero: in float32 their square roots (~3e-4) would scatter samples off the covariance's span.
    w, v = jnp.linalg.eigh(covs)  # (K, D), (K, D, D)
    floor = means.shape[1] * jnp.finfo(w.dtype).eps * jnp.max(jnp.abs(w), axis=1, keepdims=True)
    w = jnp.where(w > floor, w, 0)
    roots = v * jnp.sqrt(w)[:, None, :]  # roots[k] @ roots[k].T == covs[k]
    eps = jax.random.normal(key, (classes.shape[0], means.shape[1]), means.dtype)
    return means[classes] + jnp.einsum("mij,mj->mi", roots[classes], eps)


def sample_class(key, means, covs, classes) -> jax.Array:
    """One draw from ``N(means[k], covs[k])`` for each ``k`` in ``classes``.

    Args:
      key: a ``jax.random`` key; the same key gives the same draws.
      means: ``(K, D)`` class means (from `class_stats`).
      covs: ``(K, D, D)`` symmetric positive semi-definite class covariances.
      classes: integer ``(M,)`` classes in ``[0, K)``, repeats allowed (``jnp.repeat(jnp.arange(K), 8)``).

    Returns:
      ``(M, D)`` codes; reshape to the latent's shape before decoding if it is not flat.

    Raises:
      ValueError: shapes that do not fit together, or classes out of range.
      TypeError: non-floating statistics or non-integer classes.
    """
    means, covs = jnp.asarray(means), jnp.asarray(covs)
    if means.ndim != 2:
        raise ValueError(f"sample_class: means must be (K, D); got shape {means.shape}")
    k, d = means.shape
    if covs.shape != (k, d, d):
        raise ValueError(
            f"sample_class: covs must be (K, D, D) = {(k, d, d)} to match means {means.shape}; got {covs.shape}"
        )
    for name, a in (("means", means), ("covs", covs)):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            raise TypeError(f"sample_class: {name} must be floating; got {a.dtype}")
    if means.dtype != covs.dtype:
        raise TypeError(f"sample_class: means and covs must have the same dtype; got {means.dtype} and {covs.dtype}")
    classes = jnp.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(f"sample_class: classes must be a 1-D array of class indices; got shape {classes.shape}")
    if not jnp.issubdtype(classes.dtype, jnp.integer):
        raise TypeError(f"sample_class: classes must be integers; got {classes.dtype}")
    if not isinstance(classes, jax.core.Tracer) and classes.size:
        lo, hi = int(classes.min()), int(classes.max())
        if lo < 0 or hi >= k:
            raise ValueError(f"sample_class: classes must be in [0, {k}); got values from {lo} to {hi}")
    return _sample(key, means, covs, classes)
