"""Where a run's numbers came from: its id, the code's git commit, the environment, versions, device."""

import datetime
import os
import platform
import secrets
import subprocess
from pathlib import Path

__all__ = ["ENV_PREFIXES", "device_description", "environment", "git_commit", "run_id", "versions"]

#: Environment variables that change what JAX or cnnlab compute, recorded when set.
ENV_PREFIXES = ("JAX_", "XLA_", "CNNLAB_", "CUDA_VISIBLE_DEVICES", "TPU_")


def run_id() -> str:
    """A new run's id: its UTC start time and 6 random hex digits, e.g. ``20261203T161502Z-3f9a1c``."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(3)}"


def git_commit() -> str | None:
    """The commit of the git checkout cnnlab runs from (``+dirty`` with uncommitted changes), or None.

    None when cnnlab is installed from a wheel or sdist, even inside another project's repository:
    the checkout must be the one whose ``cnnlab/`` folder is the package imported.
    """
    import cnnlab

    package = Path(cnnlab.__file__).resolve().parent
    try:
        top = _git(package, "rev-parse", "--show-toplevel")
        if top is None or Path(top).resolve() / "cnnlab" != package:
            return None
        commit = _git(package, "rev-parse", "HEAD")
        dirty = _git(package, "status", "--porcelain", "--untracked-files=no")
    except OSError:  # no git
        return None
    return None if commit is None else commit + ("+dirty" if dirty else "")


def _git(where: Path, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10)
    return done.stdout.strip() if done.returncode == 0 else None


def environment() -> dict[str, str]:
    """The set environment variables of `ENV_PREFIXES` (JAX, XLA, cnnlab, device selection)."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)}


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("cnnlab", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_description() -> str:
    """``"1 x cpu (cpu), 2 CPU cores"``: JAX's devices and the machine's cores."""
    import jax

    d = jax.devices()[0]
    kind = getattr(d, "device_kind", d.platform)
    return f"{len(jax.devices())} x {d.platform} ({kind}), {os.cpu_count()} CPU cores"
