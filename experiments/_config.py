"""Typed study configurations: a frozen dataclass per study, its fields typed, defaulted and documented.

A study declares its settings as a subclass of `StudyConfig`, one `setting` per field::

    @dataclasses.dataclass(frozen=True)
    class Config(StudyConfig):
        dataset: Literal["mnist"] = setting("mnist", "the digits trained on")
        epochs: int = setting(10, "training epochs (the notebook's 10)", minimum=1)
        learning_rate: float = setting(1e-3, "Adam's learning rate", minimum=0)
        classes: tuple[int, ...] = setting((1, 5, 6), "the digits kept")

Every value, from a default, ``--quick``, ``--config FILE``, ``--set KEY=VALUE`` or an option,
goes through `coerce`, by the field's type: ``int`` takes whole numbers, ``float`` finite
numbers (ints too), ``bool`` True/False, ``str`` text, ``Literal[...]`` one of its values,
``tuple[T, ...]`` and ``tuple[T, U]`` sequences (lists too), ``X | None`` also None. A field's
``minimum`` is checked too. `ConfigError` says which setting, what it got and what it needs.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import types
import typing
from typing import Any, Literal

__all__ = ["ConfigError", "StudyConfig", "coerce", "describe", "parse_text", "setting", "with_values"]


class ConfigError(ValueError):
    """A value a setting cannot take; the message starts with the setting's label."""


def setting(default: Any, doc: str, *, minimum: float | None = None) -> Any:
    """A config field: its default, one line of doc, and the least value it takes (numbers only)."""
    return dataclasses.field(default=default, metadata={"doc": doc, "minimum": minimum})


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """What every study has: its dataset, training length and batch, and the seed.

    Subclasses redeclare ``dataset``, ``epochs`` and ``batch_size`` with their own defaults
    and docs, and add their own settings.
    """

    dataset: str = setting("mnist", "which dataset")
    epochs: int = setting(1, "training epochs", minimum=1)
    batch_size: int = setting(32, "training batch size", minimum=1)
    seed: int = setting(0, "seed for initialisation, shuffling and noise", minimum=0)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, coerce(self, f.name, getattr(self, f.name), f.name))

    @classmethod
    def datasets(cls) -> tuple[str, ...]:
        """The values ``dataset`` takes (its ``Literal``), or () when any name is accepted."""
        kind = typing.get_type_hints(cls)["dataset"]
        return tuple(typing.get_args(kind)) if typing.get_origin(kind) is Literal else ()


def _field(cls, key: str) -> dataclasses.Field:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise ConfigError(f"{key}: no such setting; the settings: {', '.join(fields)}")
    return fields[key]


def coerce(config, key: str, value: Any, label: str) -> Any:
    """``value`` as setting ``key`` of ``config`` (class or instance) takes it; `ConfigError` naming ``label``."""
    cls = config if isinstance(config, type) else type(config)
    field = _field(cls, key)
    kind = typing.get_type_hints(cls)[key]
    ok, got = _as(kind, value)
    if not ok:
        raise ConfigError(f"{label} must be {_words(kind)}; got {value!r}")
    low = field.metadata.get("minimum")
    if low is not None and isinstance(got, int | float) and not isinstance(got, bool) and got < low:
        raise ConfigError(f"{label} must be at least {low}; got {got}")
    return got


def _as(kind, value) -> tuple[bool, Any]:
    """``(True, value in kind's own type)`` when ``value`` is a ``kind``, else ``(False, None)``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            ok, got = _as(option, value)
            if ok:
                return True, got
        return False, None
    if kind is type(None):
        return value is None, None
    if origin is Literal:
        return (value in args and not isinstance(value, bool)), value
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return False, None
        items = args[:1] * len(value) if args[-1:] == (Ellipsis,) else args
        if len(items) != len(value):
            return False, None
        converted = [_as(k, v) for k, v in zip(items, value)]
        return all(ok for ok, _ in converted), tuple(got for _, got in converted)
    if kind is bool:
        return isinstance(value, bool), value
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False, None
        try:
            return math.isfinite(float(value)), float(value)
        except OverflowError:  # an int beyond float's range
            return False, None
    if kind is str:
        return isinstance(value, str), value
    raise TypeError(f"setting type {kind!r} is not supported")


def _words(kind, many: bool = False) -> str:
    """``kind`` in words: "a whole number", "None or a finite number", "a tuple of whole numbers"."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_words(a, many) for a in args)
    if kind is type(None):
        return "None"
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin is tuple:
        if args[-1:] == (Ellipsis,):
            return ("tuples" if many else "a tuple") + f" of {_words(args[0], True)}"
        return ("tuples" if many else "a tuple") + f" of {len(args)} (" + ", ".join(_words(a) for a in args) + ")"
    one, several = {bool: ("True or False", "True or False values"), int: ("a whole number", "whole numbers"),
                    float: ("a finite number", "finite numbers"), str: ("text", "texts")}[kind]  # fmt: skip
    return several if many else one


def parse_text(config, key: str, text: str, label: str) -> Any:
    """The value of ``--set KEY=TEXT``: a Python literal (``3``, ``1e-3``, ``(1, 5, 6)``, ``None``,
    ``True``), or the text itself for a setting that takes text; then `coerce`."""
    cls = config if isinstance(config, type) else type(config)
    _field(cls, key)
    text = text.strip()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = text
    if _takes_text(typing.get_type_hints(cls)[key]) and not (value is None and text == "None"):
        value = text
    return coerce(cls, key, value, label)


def _takes_text(kind) -> bool:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_takes_text(a) for a in args)
    return kind is str or (origin is Literal and all(isinstance(a, str) for a in args))


def with_values(config: StudyConfig, values: dict[str, Any], label) -> StudyConfig:
    """``config`` with ``values``, each checked; ``label(key)`` names where a value came from."""
    checked = {key: coerce(config, key, value, label(key)) for key, value in values.items()}
    return dataclasses.replace(config, **checked)


def describe(config: StudyConfig) -> list[dict]:
    """One row per setting: ``name``, ``type`` (as written), ``value``, ``default`` and ``doc``."""
    hints = typing.get_type_hints(type(config))
    return [
        dict(name=f.name, type=_type_name(hints[f.name]), value=getattr(config, f.name), default=f.default,
             doc=f.metadata.get("doc", ""))
        for f in dataclasses.fields(config)
    ]  # fmt: skip


def _type_name(kind) -> str:
    return (
        kind.__name__
        if isinstance(kind, type)
        else str(kind).replace("typing.", "").replace("NoneType", "None").replace("Ellipsis", "...")
    )
