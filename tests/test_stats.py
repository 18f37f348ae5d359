"""cnnlab.stats.spread against the textbook formulas, written out."""

import math

import numpy as np
import pytest

from cnnlab.stats import spread


def test_spread_is_the_sample_statistics():
    v = [0.61, 0.58, 0.66, 0.6]
    s = spread(v)
    mean = sum(v) / 4
    assert s["mean"] == pytest.approx(mean, abs=1e-15)
    assert s["std"] == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in v) / 3), abs=1e-15)  # n - 1
    assert (s["min"], s["max"]) == (0.58, 0.66)
    assert all(type(x) is float for x in s.values())
    # Two values: the sample std is |a - b| / sqrt(2).
    assert spread(np.float32([0.25, 0.75]))["std"] == pytest.approx(0.5 / math.sqrt(2), abs=1e-15)


@pytest.mark.parametrize("values", [[0.5], [], [[0.1, 0.2], [0.3, 0.4]]])
def test_spread_needs_a_flat_sample_of_two(values):
    with pytest.raises(ValueError, match="spread: values must be a flat sequence of at least 2 numbers"):
        spread(values)
