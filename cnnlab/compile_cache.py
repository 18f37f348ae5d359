"""JAX's persistent compilation cache for the ``cnnlab`` command: a second identical run loads its programs.

The command line turns it on (`enable_from_environment`); ``import cnnlab`` never does, because a
library must not change JAX's global configuration on import. A library user who wants it
calls `enable` once, before the first compilation.

Where it lives, from the environment variable ``CNNLAB_COMPILE_CACHE``:

- unset, empty, ``1`` or ``on``: ``$XDG_CACHE_HOME/cnnlab/jax`` (``~/.cache/cnnlab/jax`` without it);
- ``0``, ``off``, ``no`` or ``false``: no cache (as ``--no-compile-cache`` does);
- anything else: that directory.

>>> directory({"CNNLAB_COMPILE_CACHE": "off"}) is None
True
>>> str(directory({"CNNLAB_COMPILE_CACHE": "", "XDG_CACHE_HOME": "/var/cache/me"}))
'/var/cache/me/cnnlab/jax'
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV", "CacheSettings", "default_directory", "directory", "enable", "enable_from_environment"]

#: The environment variable that moves or turns off the cache.
ENV = "CNNLAB_COMPILE_CACHE"
_OFF = ("0", "off", "no", "false")
_ON = ("", "1", "on", "yes", "true")


@dataclasses.dataclass(frozen=True)
class CacheSettings:
    """What the cache keeps, and how large it may grow.

    ``min_compile_seconds``: programs that compiled faster than this are not written. Loading an
    entry costs a file read and a deserialisation: the 55 entries of ``cnnlab run latent-2d
    --quick`` loaded in 2.0 s in all (36 ms on average, the largest, the training epoch, 0.5 s),
    where compiling them had taken 312 s (2 shared cores under heavy load; docs/benchmarks.md).
    Below 0.1 s (JAX's small helpers: ``stage``, ``convert_element_type``) an entry saves little
    more than it costs to load. JAX's default is 1 s.

    ``min_entry_bytes``: entries smaller than this are not written; -1 keeps every size (compile
    time, not size, says what an entry saves).

    ``max_bytes``: beyond this JAX deletes the least recently used entries; -1 (the default) sets
    no limit. A limit costs too much: JAX then scans the whole directory under a file lock at
    every write (750 ms a write at 500 entries on the loaded 2-core machine), and a test suite
    writes thousands. A ``--quick`` study writes under 1 MB; delete the directory to reclaim it.
    Without a limit JAX writes entries unlocked, so a process may, rarely, read an entry another
    is still writing: JAX then warns and compiles the program itself.
    """

    min_compile_seconds: float = 0.1
    min_entry_bytes: int = -1
    max_bytes: int = -1


def default_directory(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/cnnlab/jax``, or ``~/.cache/cnnlab/jax`` when XDG_CACHE_HOME is unset or relative."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"  # the XDG spec ignores a relative path
    return root / "cnnlab" / "jax"


def directory(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cache directory ``CNNLAB_COMPILE_CACHE`` asks for, or None when it turns the cache off."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV, "").strip()
    if value.lower() in _OFF:
        return None
    if value.lower() in _ON:
        return default_directory(environ)
    return Path(value).expanduser()


def enable(path: Path | str, settings: CacheSettings = CacheSettings()) -> Path | None:
    """Points JAX's persistent compilation cache at ``path`` (created if needed); returns it.

    A directory that cannot be written is one warning line on stderr and None: the program
    then compiles as it would without a cache. Call it before the first compilation; JAX
    opens its cache once per process.
    """
    path = Path(path).expanduser().absolute()
    problem = _unwritable(path)
    if problem is not None:
        print(
            f"cnnlab: warning: compilation cache {path}: cannot write there ({problem}); compiling without it "
            f"(set {ENV}=0 to turn it off, or {ENV}=DIR to move it)",
            file=sys.stderr,
        )
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", settings.min_compile_seconds)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", settings.min_entry_bytes)
    jax.config.update("jax_compilation_cache_max_size", _max_size(settings.max_bytes))
    return path


def enable_from_environment(disabled: bool = False) -> Path | None:
    """The command line's cache: `directory` from the environment, unless ``disabled`` (``--no-compile-cache``)."""
    where = None if disabled else directory()
    return None if where is None else enable(where)


def _max_size(max_bytes: int) -> int:
    """The size limit JAX enforces: it needs ``filelock`` for one; without it, no limit (and no locking)."""
    import importlib.util

    return max_bytes if importlib.util.find_spec("filelock") is not None else -1


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot hold the cache (after creating it), or None when a probe file can be written there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".cnnlab-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return e.strerror or type(e).__name__
    return None
