"""Shared test configuration: strict JAX numerics, Keras on JAX, hypothesis profiles, the compilation cache."""

import os

# Keras must pick its backend before it is first imported anywhere in the session.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures render off-screen in tests
# Full float32 precision (below), also in the `cnnlab` processes the tests start: their programs are
# then the same as this process's, so each loads what the other compiled from the cache below.
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")

from pathlib import Path

import jax
import pytest
from hypothesis import HealthCheck, settings

from cnnlab import compile_cache

# JAX's persistent compilation cache, shared by the xdist workers and by the `cnnlab` processes the
# tests start (they inherit the variable): a program compiled once loads from disk afterwards.
# It lives in .pytest_cache (ignored by git), so a clean clone starts cold; CNNLAB_COMPILE_CACHE=0
# runs the suite without it, CNNLAB_COMPILE_CACHE=DIR elsewhere.
os.environ.setdefault(compile_cache.ENV, str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax"))
compile_cache.enable_from_environment()

# Rank promotion (silent broadcasting of (3,) against (2, 3)) is an error in our tests,
# so an op that broadcasts by accident fails here, not in a user's model.
jax.config.update("jax_numpy_rank_promotion", "raise")
# Oracles compare float32 against float32: pin full precision so that accelerators that
# default to TF32 matmuls (recent NVIDIA GPUs) do not blur the comparison.
jax.config.update("jax_default_matmul_precision", "highest")

settings.register_profile(
    "default",
    max_examples=25,
    deadline=None,  # every new shape compiles; compile time is not what we test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # CI runs the same examples every time
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=300, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _strict_dtype_promotion():
    """Implicit dtype promotion (int32 + float32, float32 + bfloat16) raises inside each test."""
    with jax.numpy_dtype_promotion("strict"):
        yield
