"""What `fit` refuses and what stops it: bad inputs and labels before training, a loss or
parameters that go non-finite, a loss that diverges while staying finite, and a resume
with another optimizer.

The data checks run once per dataset on the host (NumPy), before anything compiles, and
name the array and the first bad index. The training checks run once per epoch on values
the epoch already returns.
"""

import hashlib
import math
import types

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DivergenceError", "NonFiniteLossError", "check_finite", "check_labels", "diverged", "fingerprint"]


class DivergenceError(FloatingPointError):
    """Training diverged; `fit` stopped and the model holds its last good state.

    Attributes:
      epoch: 1-based epoch where it was detected.
      step: 1-based step within that epoch (None when only the epoch is known).
      history: the epochs completed before it.
      checkpoint: the last good checkpoint's directory, or None.
    """

    def __init__(self, message, *, epoch, step, history, checkpoint):
        super().__init__(message)
        self.epoch, self.step, self.history, self.checkpoint = epoch, step, history, checkpoint


class NonFiniteLossError(DivergenceError):
    """The training loss (or a parameter) became NaN or infinite; `fit` stopped."""


def _first(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))


def check_finite(fn: str, what: str, a) -> None:
    """Raises ValueError naming ``what`` and its first NaN/inf element, if it has one.

    Integer arrays (uint8 images, labels) are finite by construction and not read.
    """
    if not jnp.issubdtype(a.dtype, jnp.floating):
        return
    host = np.asarray(a)
    ok = np.isfinite(host)
    if not ok.all():
        at = _first(~ok)
        raise ValueError(
            f"{fn}: {what} holds {int(ok.size - ok.sum())} non-finite value(s); the first is "
            f"{host[at]} at index {at} (example {at[0]}). Training on it would turn the model's "
            "parameters into NaN: clean or drop those examples"
        )


def check_labels(fn: str, what: str, labels, num_classes: int, first_index: int = 0) -> None:
    """Raises ValueError unless ``labels`` are integers in ``[0, num_classes)``.

    ``first_index`` offsets the example index in the message (for batches of a stream).
    """
    host = np.asarray(labels)
    if not np.issubdtype(host.dtype, np.integer):
        raise ValueError(
            f"{fn}: {what} must be integer class labels in [0, {num_classes}); got dtype {host.dtype}"
            + (f" (first value {host.reshape(-1)[0]!r})" if host.size else "")
            + "; convert them with .astype(int) if they are whole numbers"
        )
    bad = (host < 0) | (host >= num_classes)
    if bad.any():
        at = _first(bad)
        at = (at[0] + first_index, *at[1:])
        raise ValueError(
            f"{fn}: {what} must be class labels in [0, {num_classes}) (the model has {num_classes} outputs); "
            f"got {host[_first(bad)]} at index {at} (example {at[0]})"
        )


def diverged(loss: float, reference: float | None, factor: float | None) -> bool:
    """Whether an epoch's mean training ``loss`` exceeds ``factor`` times ``reference``
    (the lowest of the run's first-step loss and every earlier epoch's mean loss).

    Off when ``factor`` is None or the reference is not positive (a custom loss that can be
    zero or negative has no scale to compare with).
    """
    if factor is None or reference is None or not reference > 0:
        return False
    return loss > factor * reference


def check_factor(fn: str, factor) -> float | None:
    if factor is None:
        return None
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not math.isfinite(factor) or factor <= 1:
        raise ValueError(
            f"{fn}: divergence_factor must be a finite number > 1, or None to turn the check off; got {factor!r}"
        )
    return float(factor)


def all_finite(tree) -> bool:
    """Whether every floating leaf of ``tree`` is finite (one device reduction per leaf)."""
    leaves = [a for a in jax.tree.leaves(tree) if jnp.issubdtype(a.dtype, jnp.floating)]
    return bool(_all_finite(leaves)) if leaves else True


@jax.jit
def _all_finite(leaves):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves]))


def fingerprint(tx) -> str:
    """A digest of an optax transformation's hyperparameters: the constants, arrays and
    functions its ``init``/``update`` closures hold, recursively.

    Two transformations built the same way (``optax.adam(1e-3)`` in two processes) get the
    same digest; another rate, schedule or optimizer gets another. `fit` stores it so that a
    resume with a different optimizer is refused instead of continuing silently.
    """
    h = hashlib.sha256()
    seen: set[int] = set()
    _feed(h, (tx.init, tx.update), seen, 0)
    return h.hexdigest()[:16]


def _feed(h, obj, seen: set, depth: int) -> None:
    if depth > 12:
        return
    if obj is None or isinstance(obj, bool | int | float | complex | str | bytes):
        h.update(repr(obj).encode())
    elif isinstance(obj, np.ndarray | jax.Array | np.generic):
        a = np.asarray(obj)
        h.update(f"{a.dtype}{a.shape}".encode() + np.ascontiguousarray(a).tobytes())
    elif isinstance(obj, tuple | list):
        h.update(f"{type(obj).__name__}{len(obj)}".encode())
        for o in obj:
            _feed(h, o, seen, depth + 1)
    elif isinstance(obj, dict):
        for k in sorted(obj, key=repr):
            _feed(h, k, seen, depth + 1)
            _feed(h, obj[k], seen, depth + 1)
    elif id(obj) in seen:
        h.update(b"<seen>")
    elif isinstance(obj, types.FunctionType):
        seen.add(id(obj))
        h.update(f"{obj.__module__}.{obj.__qualname__}".encode())
        _feed(h, obj.__defaults__, seen, depth + 1)
        _feed(h, obj.__kwdefaults__, seen, depth + 1)
        for cell in obj.__closure__ or ():
            try:
                _feed(h, cell.cell_contents, seen, depth + 1)
            except ValueError:  # an empty cell
                h.update(b"<empty>")
    elif hasattr(obj, "func") and hasattr(obj, "args") and hasattr(obj, "keywords"):  # functools.partial
        seen.add(id(obj))
        _feed(h, (obj.func, obj.args, dict(obj.keywords)), seen, depth + 1)
    elif isinstance(obj, np.dtype):
        h.update(str(obj).encode())
    else:
        # Classes and other objects: their name (a repr may hold a memory address).
        h.update(getattr(obj, "__qualname__", type(obj).__qualname__).encode())
