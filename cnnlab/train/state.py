"""`TrainState`: what one training step carries to the next, by name."""

from typing import Any, NamedTuple

import jax


class TrainState(NamedTuple):
    """The training carry of `fit` (one model) and `fit_many` (a stack on a leading axis).

    A NamedTuple, so it is a pytree: ``jit``, ``lax.scan`` and ``vmap`` take it as is.

    Attributes:
      params: the model's ``nnx.Param`` arrays, the ones the optimizer updates.
      rng_keys: the model's RNG stream keys (``nnx.RngKey``); every step reseeds them from
        the run's key and the global step, so they carry nothing between steps.
      rest: the model's other state (``nnx.BatchStat`` moving averages, RNG counts).
      opt_state: the optax state.
      ok: True until a step's loss is NaN/inf; from then on the steps leave the state as it
        was (one flag per member in `fit_many`).
    """

    params: Any
    rng_keys: Any
    rest: Any
    opt_state: Any
    ok: jax.Array

    @property
    def model_state(self) -> tuple:
        """``(params, rng_keys, rest)``: what ``nnx.merge``/``nnx.update`` take after the graph."""
        return self.params, self.rng_keys, self.rest
