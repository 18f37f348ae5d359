"""The model zoo by name: each zoo model remembers how it was built, so a saved run can rebuild it.

`zoo_model` registers a class under its name and records, on every instance, the keyword
arguments it was built with (``rngs`` aside) as ``build_args``: a tuple of ``(name, value)``
pairs, static to NNX. `spec` reads them as JSON-able data, `build` makes the model again
from such data. `build` only looks names up in this registry: a spec read from a file never
names code to import or run.

Example:
  >>> from flax import nnx
  >>> from cnnlab.models import LeNetAutoencoder, build, spec
  >>> s = spec(LeNetAutoencoder(latent_dim=2, rngs=nnx.Rngs(0)))
  >>> s
  {'class': 'LeNetAutoencoder', 'args': {'latent_dim': 2, 'output_activation': None}}
  >>> type(build(s)).__name__, build(s).latent_dim
  ('LeNetAutoencoder', 2)
"""

import functools
import inspect
import math

from flax import nnx

__all__ = ["ZOO", "build", "spec", "zoo_model"]

#: Zoo classes by name (``"MnistCNN"``), filled by `zoo_model`.
ZOO: dict[str, type] = {}
_PLAIN = (bool, int, float, str, type(None))


def zoo_model(cls: type) -> type:
    """Class decorator: registers ``cls`` in `ZOO` and records each instance's ``build_args``."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        given = {k: v for k, v in bound.arguments.items() if k not in ("self", "rngs")}
        self.build_args = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in given.items())

    cls.__init__ = __init__
    ZOO[cls.__name__] = cls
    return cls


def spec(model: nnx.Module) -> dict:
    """``{"class": NAME, "args": {...}}``: what `build` needs to make ``model``'s architecture again.

    Raises:
      TypeError: ``model`` is not a zoo model, or was built with an argument that is not
        plain data (a function, an array), which a file cannot hold.
    """
    name = type(model).__name__
    if ZOO.get(name) is not type(model) or not hasattr(model, "build_args"):
        raise TypeError(f"spec: model must be one of cnnlab.models' zoo ({', '.join(sorted(ZOO))}); got {name}")
    args = dict(model.build_args)
    for key, value in args.items():
        values = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(v, _PLAIN) and not (isinstance(v, float) and not math.isfinite(v)) for v in values):
            raise TypeError(f"spec: {name} was built with {key}={value!r}, which cannot be saved as plain data")
    return {"class": name, "args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}}


def build(model_spec: dict, *, rngs: nnx.Rngs | None = None) -> nnx.Module:
    """The model `spec` described, freshly initialised (``rngs``, default ``nnx.Rngs(0)``).

    Raises:
      ValueError: a malformed spec, a class not in `ZOO`, or arguments the class rejects.
    """
    if not isinstance(model_spec, dict) or not isinstance(model_spec.get("args", {}), dict):
        raise ValueError(f'build: model_spec must be {{"class": NAME, "args": {{...}}}}; got {model_spec!r}')
    name = model_spec.get("class")
    if name not in ZOO:
        raise ValueError(f"build: unknown model class {name!r}; known: {', '.join(sorted(ZOO))}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in model_spec.get("args", {}).items()}
    try:
        return ZOO[name](**args, rngs=rngs or nnx.Rngs(0))
    except TypeError as e:
        raise ValueError(f"build: {name} cannot be built with {args}: {e}") from None
