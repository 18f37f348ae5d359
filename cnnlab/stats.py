"""cnnlab.stats: summaries of a quantity measured several times, e.g. once per seed.

A study that trains several seeds (`cnnlab.train.fit_many`) reports each number with its
spread; `spread` is that summary, the one its figures (`cnnlab.viz.sweeps`) draw.
"""

import numpy as np

__all__ = ["spread"]


def spread(values) -> dict[str, float]:
    """Mean, sample standard deviation (``ddof=1``), minimum and maximum of repeated measurements.

    Args:
      values: at least two numbers (a sample standard deviation needs two).

    Returns:
      ``{"mean", "std", "min", "max"}``, each a Python float computed in float64.

    Example:
      >>> spread([0.5, 0.7])
      {'mean': 0.6, 'std': 0.14142135623730948, 'min': 0.5, 'max': 0.7}
    """
    v = np.asarray(values, np.float64)
    if v.ndim != 1 or len(v) < 2:
        raise ValueError(f"spread: values must be a flat sequence of at least 2 numbers; got shape {v.shape}")
    return dict(mean=float(v.mean()), std=float(v.std(ddof=1)), min=float(v.min()), max=float(v.max()))
