"""One tolerance table keyed by dtype, in the manner of jax's public_test_util.

Forward values compare at `tol(dtype)`; gradients at `grad_tol(dtype)`, looser because
they accumulate over more terms. On accelerators everything loosens once by
`ACCELERATOR_FACTOR` (different summation order, fused multiply-adds).
"""

import jax
import numpy as np

_FORWARD = {
    np.dtype("float64"): dict(rtol=1e-10, atol=1e-10),
    np.dtype("float32"): dict(rtol=1e-5, atol=1e-5),
    np.dtype("float16"): dict(rtol=1e-2, atol=1e-2),
    np.dtype(jax.numpy.bfloat16): dict(rtol=2e-2, atol=2e-2),
}
_GRAD_FACTOR = 10.0
ACCELERATOR_FACTOR = 1.0 if jax.default_backend() == "cpu" else 10.0


def tol(dtype=np.float32) -> dict:
    """`rtol`/`atol` keyword arguments for `np.testing.assert_allclose` at this dtype."""
    t = _FORWARD[np.dtype(dtype)]
    return {k: v * ACCELERATOR_FACTOR for k, v in t.items()}


def grad_tol(dtype=np.float32) -> dict:
    """Looser tolerances for gradients, which sum over more terms than the forward pass."""
    return {k: v * _GRAD_FACTOR for k, v in tol(dtype).items()}


def assert_close(actual, expected, dtype=None, *, grad=False, err_msg=""):
    """Compare in float64 at the tolerance of `dtype` (default: the dtype of `actual`)."""
    actual = np.asarray(actual)
    dtype = np.dtype(dtype) if dtype is not None else actual.dtype
    t = grad_tol(dtype) if grad else tol(dtype)
    np.testing.assert_allclose(actual.astype(np.float64), np.asarray(expected).astype(np.float64), err_msg=err_msg, **t)
