"""Optimizers from optax, by name and plain config, and learning-rate schedules.

An optimizer is named by a string and a few numbers (`make_optimizer("sgd",
learning_rate=0.01, momentum=0.9)`), so that a checkpoint can store the config that
built it and `fit(..., resume=True)` can check it. The defaults are Keras's, the
toolkit the classic studies were written in.

Schedules are pure functions of the optimizer step (an int array), as optax schedules
are; any optax schedule can be passed as ``learning_rate``.
"""

import functools
import math
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "OPTIMIZERS",
    "inverse_time_decay",
    "make_optimizer",
    "make_rate_in_state_optimizer",
    "optimizer_config",
    "promotion_safe",
    "set_learning_rate",
]

#: Each optimizer's keyword arguments and their defaults (Keras's; adadelta's learning
#: rate is the classic autoencoder's 0.5 rather than Keras's 1.0).
OPTIMIZERS: dict[str, dict] = {
    "adam": dict(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-7),
    "sgd": dict(learning_rate=1e-2, momentum=0.0, nesterov=False),
    # `decay` is the classic Keras 1/2 time decay, lr / (1 + decay * step); the CIFAR-10
    # example used RMSprop(lr=1e-4, decay=1e-6).
    "rmsprop": dict(learning_rate=1e-3, rho=0.9, eps=1e-7, decay=0.0),
    "adadelta": dict(learning_rate=0.5, rho=0.95, eps=1e-7),
}

Schedule = Callable[[jnp.ndarray], jnp.ndarray]


def inverse_time_decay(learning_rate: float, decay: float) -> Schedule:
    """The classic Keras decay: ``learning_rate / (1 + decay * step)``.

    Args:
      learning_rate: the rate at step 0.
      decay: per-step decay (``1e-6`` in the classic CIFAR-10 example).

    Returns:
      A pure function of the step (an int array) giving a float32 rate.

    Example:
      >>> inverse_time_decay(0.1, 1.0)(jnp.asarray(3))   # 0.1 / 4
      Array(0.025, dtype=float32)
    """
    if not isinstance(learning_rate, int | float) or learning_rate <= 0:
        raise ValueError(f"inverse_time_decay: learning_rate must be a positive number; got {learning_rate!r}")
    if not isinstance(decay, int | float) or decay < 0:
        raise ValueError(f"inverse_time_decay: decay must be a non-negative number; got {decay!r}")
    return _inverse_time_decay(float(learning_rate), float(decay))


def _inverse_time_decay(lr, d: float) -> Schedule:
    # `lr` a Python float or, inside `make_rate_in_state_optimizer`, a traced float32 scalar.
    def schedule(step):
        step = jnp.asarray(step).astype(jnp.float32)
        return jnp.asarray(lr, jnp.float32) / (jnp.float32(1) + jnp.float32(d) * step)

    return schedule


def optimizer_config(name: str, **overrides) -> dict:
    """The full config of optimizer ``name``: its defaults updated by ``overrides``.

    Raises ``ValueError`` naming the unknown optimizer or argument and the known ones.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"make_optimizer: unknown optimizer {name!r}; known: {sorted(OPTIMIZERS)}")
    defaults = OPTIMIZERS[name]
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(f"make_optimizer: {name} takes no argument(s) {unknown}; it takes {sorted(defaults)}")
    return {"name": name, **defaults, **overrides}


def make_optimizer(name: str, **config) -> optax.GradientTransformation:
    """An optax optimizer by name.

    Args:
      name: ``"adam"``, ``"sgd"``, ``"rmsprop"`` or ``"adadelta"``.
      **config: overrides of the defaults in `OPTIMIZERS`. ``learning_rate`` may be a
        number or a schedule (a pure function of the step, e.g. an optax schedule).
        rmsprop's ``decay > 0`` wraps a numeric rate in `inverse_time_decay`.

    Returns:
      An ``optax.GradientTransformation``. rmsprop adds ``eps`` outside the square root
      and adadelta uses ``rho``/``eps`` as Keras does.

    Example:
      >>> tx = make_optimizer("sgd", learning_rate=0.01, momentum=0.9)
    """
    try:
        return _cached(name, tuple(sorted(config.items())))
    except TypeError:  # an unhashable config value: build afresh
        return promotion_safe(_make(name, config))


@functools.lru_cache(maxsize=64)
def _cached(name, items):
    # One object per config, so that jit's caches (keyed on the transformation) hit when
    # `fit` runs the same model and optimizer again.
    return promotion_safe(_make(name, dict(items)))


def promotion_safe(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """``tx`` with its ``init``/``update`` traced under standard dtype promotion.

    optax mixes Python floats with int32 step counts (adam's bias correction
    ``1 - b1 ** count``), which ``jax.numpy_dtype_promotion("strict")`` rejects; the
    wrapper lets optimizers run inside code (and tests) that use strict promotion.
    """

    def init(params):
        with jax.numpy_dtype_promotion("standard"):
            return tx.init(params)

    def update(updates, state, params=None):
        with jax.numpy_dtype_promotion("standard"):
            return tx.update(updates, state, params)

    return optax.GradientTransformation(init, update)


def make_rate_in_state_optimizer(name: str, **config) -> optax.GradientTransformation:
    """Optimizer ``name`` whose learning rate is a value in its state, not a constant.

    Built with ``optax.inject_hyperparams``: the rate lives in
    ``state.hyperparams["learning_rate"]``, so members of a ``vmap``ped sweep (`fit_many`'s
    ``learning_rates``) can each carry their own while sharing one compiled update. Set it
    with `set_learning_rate` after ``init``; until then it is 1.0. Each update is the
    one `make_optimizer` builds for that rate (rmsprop's ``decay`` included).

    Args:
      name: as for `make_optimizer`.
      **config: its other arguments; not ``learning_rate``.
    """
    if "learning_rate" in config:
        raise ValueError(
            "make_rate_in_state_optimizer: the learning rate is set in the state (set_learning_rate), not given here"
        )
    optimizer_config(name, **config)  # names an unknown optimizer or argument
    return _rate_in_state(name, tuple(sorted(config.items())))


@functools.lru_cache(maxsize=64)
def _rate_in_state(name, items):
    config = dict(items)

    def factory(learning_rate):
        return _make(name, {**config, "learning_rate": learning_rate}, traced_rate=True)

    return promotion_safe(optax.inject_hyperparams(factory)(learning_rate=1.0))


def set_learning_rate(state, learning_rate):
    """``state`` of a `make_rate_in_state_optimizer` with its rate replaced by
    ``learning_rate`` (a float32 array: a scalar, or one rate per member of a stacked state)."""
    if not isinstance(state, optax.InjectStatefulHyperparamsState) or "learning_rate" not in state.hyperparams:
        raise TypeError(
            f"set_learning_rate: state must come from make_rate_in_state_optimizer; got {type(state).__name__}"
        )
    rate = jnp.asarray(learning_rate, jnp.float32)
    return state._replace(hyperparams={**state.hyperparams, "learning_rate": rate})


def _make(name: str, config: dict, *, traced_rate: bool = False) -> optax.GradientTransformation:
    c = optimizer_config(name, **config)
    lr = c["learning_rate"]
    # A traced rate is an array from the optimizer's state, checked where it was set.
    if not traced_rate and not callable(lr) and (not isinstance(lr, int | float) or isinstance(lr, bool) or lr <= 0):
        raise ValueError(f"make_optimizer: learning_rate must be a positive number or a schedule; got {lr!r}")
    if name == "adam":
        return optax.adam(lr, b1=c["b1"], b2=c["b2"], eps=c["eps"])
    if name == "sgd":
        momentum = c["momentum"] or None  # optax skips the trace for None
        return optax.sgd(lr, momentum=momentum, nesterov=c["nesterov"])
    if name == "rmsprop":
        if c["decay"]:
            if callable(lr):
                raise ValueError("make_optimizer: rmsprop takes decay or a schedule as learning_rate, not both")
            lr = _inverse_time_decay(lr, c["decay"]) if traced_rate else inverse_time_decay(lr, c["decay"])
        # Keras: p -= lr * g / (sqrt(a) + eps), eps outside the root.
        return optax.rmsprop(lr, decay=c["rho"], eps=c["eps"], eps_in_sqrt=False)
    return optax.adadelta(lr, rho=c["rho"], eps=c["eps"])


def resolve(optimizer) -> tuple[optax.GradientTransformation, dict]:
    """``optimizer`` as ``(transformation, config)``: a name, a config mapping with
    ``"name"``, or an optax transformation (config ``{"name": "custom"}``)."""
    if isinstance(optimizer, str):
        return make_optimizer(optimizer), optimizer_config(optimizer)
    if isinstance(optimizer, Mapping):
        name, rest = _name_and_overrides(optimizer)
        return make_optimizer(name, **rest), optimizer_config(name, **rest)
    if isinstance(optimizer, optax.GradientTransformation):
        return promotion_safe(optimizer), {"name": "custom"}
    raise TypeError(
        "fit: optimizer must be a name (e.g. 'adam'), a config dict with 'name', or an optax "
        f"GradientTransformation; got {type(optimizer).__name__}"
    )


def resolve_rate_in_state(optimizer: str | Mapping) -> tuple[optax.GradientTransformation, dict]:
    """A name or config (without ``learning_rate``) as `make_rate_in_state_optimizer`'s
    transformation and its config, the rate left out."""
    name, rest = (optimizer, {}) if isinstance(optimizer, str) else _name_and_overrides(optimizer)
    config = {k: v for k, v in optimizer_config(name, **rest).items() if k != "learning_rate"}
    return make_rate_in_state_optimizer(name, **rest), config


def _name_and_overrides(config: Mapping) -> tuple[str, dict]:
    if "name" not in config:
        raise ValueError(f"fit: an optimizer config needs a 'name'; got keys {sorted(config)}")
    return config["name"], {k: v for k, v in config.items() if k != "name"}


def check_rates(learning_rates, seeds, optimizer) -> list[float]:
    """`fit_many`'s ``learning_rates``: one positive finite rate per seed, for an optimizer given by name."""
    rates = list(learning_rates)
    if len(rates) != len(seeds):
        raise ValueError(
            f"fit_many: learning_rates must give one rate per seed ({len(seeds)} seeds); got {len(rates)} rates. "
            f"To sweep the rate alone, repeat a seed: seeds=[{seeds[0]}] * {len(rates)}"
        )
    bad = [r for r in rates if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or r <= 0]
    if bad:
        raise ValueError(f"fit_many: learning_rates must be positive finite numbers; got {bad[0]!r} in {rates!r}")
    if not isinstance(optimizer, str | Mapping):
        raise TypeError(
            "fit_many: learning_rates needs the optimizer as a name or config dict (e.g. 'adam'), so that each "
            f"member's rate can be set; got {type(optimizer).__name__}"
        )
    if isinstance(optimizer, Mapping) and "learning_rate" in optimizer:
        raise ValueError(
            f"fit_many: the optimizer config sets learning_rate={optimizer['learning_rate']!r} and learning_rates "
            "is given too; give the rates in learning_rates only"
        )
    if isinstance(optimizer, Mapping) and "name" not in optimizer:
        raise ValueError(f"fit_many: an optimizer config needs a 'name'; got keys {sorted(optimizer)}")
    return [float(r) for r in rates]
