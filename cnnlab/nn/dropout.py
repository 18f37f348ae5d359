"""`Dropout`, with Keras's meaning of `rate` and NNX's train/eval switch."""

from flax import nnx

from cnnlab import ops
from cnnlab.ops._util import check_rate

__all__ = ["Dropout"]


class Dropout(nnx.Module):
    """Zero each element with probability `rate` (the *drop* probability, as Keras and PyTorch).

    Survivors are scaled by `1 / (1 - rate)` (`ops.dropout`). Like `nnx.Dropout`, the mode is
    the attribute `deterministic`: `model.train()` sets it False (drop), `model.eval()` True
    (identity); a call may override it. Keys come from the `rngs` stream `rng_collection`,
    forked at construction, so each call draws a fresh mask.

    Args:
      rate: drop probability in [0, 1), a Python or NumPy real scalar.
      deterministic: initial mode; False = training (NNX default).
      rng_collection: name of the `nnx.Rngs` stream to draw from.
      rngs: `nnx.Rngs` holding that stream (or a default one).

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import Dropout
      >>> drop = Dropout(0.25, rngs=nnx.Rngs(dropout=0))
      >>> drop(jnp.ones((8, 512))).shape
      (8, 512)
    """

    def __init__(self, rate: float, *, deterministic: bool = False, rng_collection: str = "dropout", rngs: nnx.Rngs):
        if not isinstance(rngs, nnx.Rngs):
            raise TypeError(f"Dropout: rngs must be an nnx.Rngs, got {type(rngs).__name__}")
        self.rate = check_rate("Dropout", rate)
        self.deterministic = deterministic
        self.rng_collection = rng_collection
        self.rngs = rngs[rng_collection].fork()

    def __call__(self, x, *, deterministic: bool | None = None):
        """Drop in training mode, identity in evaluation mode."""
        mode = self.deterministic if deterministic is None else deterministic
        if not isinstance(mode, bool):
            raise TypeError(f"Dropout: deterministic must be a bool, got {mode!r}")
        if mode or self.rate == 0:
            return x
        return ops.dropout(x, self.rate, key=self.rngs(), training=True)

    def set_view(self, deterministic: bool | None = None):
        """Hook for `nnx.view(model, deterministic=...)`, as `nnx.Dropout` has."""
        if deterministic is not None:
            self.deterministic = deterministic
