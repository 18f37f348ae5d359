"""Parameter freezing: which of a model's ``nnx.Param`` variables `fit` trains (``trainable=``).

A filter is any nnx filter: a ``Variable`` type, a str (a variable's tag, as nnx reads it;
select by path with ``nnx.PathContains``), a callable ``(path, variable) -> bool``,
``nnx.Not``, ``nnx.All``, ``nnx.Any``, or a tuple of filters (any of them). It is
intersected with ``nnx.Param``, so it can only choose among parameters: BatchNorm's
statistics, RNG state and frozen parameters are carried in `TrainState.rest`, where no
gradient reaches them and the optimizer holds no state for them.

Example, seed 002's ``layer.trainable = False`` for every encoder layer, then unfrozen:
``fit(model, data, ..., trainable=nnx.Not(nnx.PathContains("encoder")))``, then
``fit(model, data, ...)`` (every parameter trains, from a new optimizer state).
"""

import inspect

from flax import nnx

__all__ = ["describe_trainable", "resolve_trainable"]

_FILTER_TYPES = "a Variable type, a str (a tag), a callable (path, variable) -> bool, an nnx filter or a tuple of them"


def _check_filter(fn: str, f, where: str = "trainable") -> None:
    """Raises TypeError unless ``f`` is something nnx accepts as a filter (checked recursively)."""
    if isinstance(f, tuple | list):
        for i, g in enumerate(f):
            _check_filter(fn, g, f"{where}[{i}]")
        return
    if isinstance(f, type | str | bool) or f is Ellipsis or f is None or callable(f):
        return
    raise TypeError(f"{fn}: {where} must be {_FILTER_TYPES}; got {type(f).__name__} {f!r}")


def resolve_trainable(fn: str, model: nnx.Module, trainable):
    """The filter `core.split` uses for ``trainable`` on ``model``: ``nnx.Param`` when None, else
    ``nnx.All(nnx.Param, trainable)``.

    Raises:
      TypeError: ``trainable`` is not an nnx filter (the message names what it got).
      ValueError: it selects none of the model's parameters (nothing would train), or calling it
        raised; the message lists some of the parameter paths it could have matched.
    """
    if trainable is None:
        return nnx.Param
    _check_filter(fn, trainable)
    chosen = nnx.All(nnx.Param, tuple(trainable) if isinstance(trainable, list) else trainable)
    paths = ["/".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))]
    try:
        selected = nnx.to_flat_state(nnx.state(model, chosen))
    except Exception as e:
        raise ValueError(
            f"{fn}: trainable={trainable!r} failed on the model's parameters: {type(e).__name__}: {e}"
        ) from e
    if not selected:
        some = ", ".join(paths[:6]) + (", ..." if len(paths) > 6 else "")
        raise ValueError(
            f"{fn}: trainable={trainable!r} selects none of {type(model).__name__}'s {len(paths)} parameters "
            f"({some}); nothing would train. It needs a filter matching at least one of them"
        )
    return chosen


def describe_trainable(model: nnx.Module, trainable, chosen) -> dict:
    """What a run's config records of ``trainable``: the filter in words (a function by its
    qualified name, so that a resumed run in another process compares equal) and the numbers of
    parameters (scalars) trained and frozen under ``chosen``."""
    name = trainable.__qualname__ if inspect.isfunction(trainable) else repr(trainable)
    total = sum(int(v.size) for _, v in nnx.to_flat_state(nnx.state(model, nnx.Param)))
    trained = sum(int(v.size) for _, v in nnx.to_flat_state(nnx.state(model, chosen)))
    return {"trainable": name, "trainable_params": trained, "frozen_params": total - trained}
