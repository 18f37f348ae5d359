"""A run's options: the command line every study takes, its config resolved and checked, its directories.

`add_options` declares them; `resolve_config` merges the study's typed config, ``--quick``,
``--config FILE``, ``--set`` and the options, each value checked by its field's type;
`check_options`, `check_dir` and `select_device` refuse what cannot work, in one line
(`UsageError`), before any data is loaded or anything trains.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from ._config import ConfigError, StudyConfig, parse_text, with_values
from ._harness import Study, UsageError, _first_line

__all__ = [
    "DEVICES", "MAX_SEED", "add_options", "check_dir", "check_options", "resolve_config", "select_device",
    "select_devices",
]  # fmt: skip

#: ``--device`` values and the JAX platform each selects.
DEVICES = {"cpu": "cpu", "gpu": "cuda", "tpu": "tpu"}
#: The largest ``--seed``. Seeds go to jax.random.key, nnx.Rngs and NumPy's default_rng
#: (which takes no negative seed), and studies add small offsets for their extra seeds.
MAX_SEED = 2**32 - 1
#: The options that set a study setting, as ``--set KEY=VALUE`` also does.
SETTING_OPTIONS = {"epochs": "--epochs", "batch_size": "--batch-size", "dataset": "--dataset", "seed": "--seed"}


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options every study takes (``cnnlab run NAME ...`` and ``python -m experiments.NAME ...``)."""
    parser.add_argument("--quick", action="store_true", help="a small configuration (seconds to a minute on 2 cores)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the study's)")
    parser.add_argument("--batch-size", type=int, help="training batch size (default: the study's)")
    parser.add_argument("--data-dir", help="a directory holding the dataset's files (IDX, mnist.npz, CIFAR batches)")
    parser.add_argument("--dataset", help="which dataset (default: the study's)")
    parser.add_argument("--seed", type=int, help="seed for initialisation, shuffling and noise (default: 0)")
    parser.add_argument("--out", help="output directory (default: results/NAME; with --quick, results/quick/NAME)")
    parser.add_argument(
        "--force", action="store_true",
        help="replace the results of an earlier run in the output directory instead of refusing",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoint-dir",
        help="save orbax checkpoints here, one subdirectory per trained model (default: OUT/checkpoints; "
        "--quick runs save none unless given)",
    )
    parser.add_argument("--resume", action="store_true", help="continue a run from its checkpoints")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace checkpoints already in the checkpoint directory instead of refusing",
    )  # fmt: skip
    parser.add_argument("--device", choices=sorted(DEVICES), help="run on this JAX platform (default: JAX's choice)")
    parser.add_argument(
        "--devices", type=_device_count, metavar="N|all",
        help="train data-parallel over the first N visible devices, or all of them (default: one device); "
        "the batch size must be a multiple of N",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--no-compile-cache", action="store_true",
        help="compile every program afresh: do not read or write JAX's persistent compilation cache "
        "(default: ~/.cache/cnnlab/jax, or $CNNLAB_COMPILE_CACHE; CNNLAB_COMPILE_CACHE=0 also turns it off)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override one of the study's settings (repeatable), e.g. --set learning_rate=3e-4; "
        "`cnnlab config NAME` lists them",
    )  # fmt: skip
    parser.add_argument("--config", metavar="FILE", help="a JSON or TOML file of settings to override")
    parser.add_argument("--tensorboard", metavar="DIR", help="also write per-epoch scalars for TensorBoard here")


def resolve_config(study: Study, args: argparse.Namespace) -> StudyConfig:
    """The study's defaults, then ``--quick``, ``--config FILE``, ``--set`` and the options, each checked.

    ``--set epochs=3`` and ``--epochs 3`` go through the same check; an option given beside
    a ``--set`` of the same key wins.
    """
    try:
        cfg = study.config(**study.quick) if args.quick else study.config()
        if args.config is not None:
            cfg = with_values(cfg, _config_file(study, args.config), lambda key: f"--config {args.config}: {key}")
        given = {}
        for item in args.set:
            key, sep, text = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not key:
                raise UsageError(f"--set {item!r}: write KEY=VALUE, e.g. --set learning_rate=3e-4")
            _known(study, key, f"--set {key}")
            given[key] = parse_text(cfg, key, text, f"--set {key}")
        cfg = dataclasses.replace(cfg, **given)
        options = {key: getattr(args, key) for key in SETTING_OPTIONS if getattr(args, key) is not None}
        cfg = with_values(cfg, options, lambda key: SETTING_OPTIONS[key])
    except ConfigError as e:
        raise UsageError(str(e)) from None
    if cfg.seed > MAX_SEED:
        raise UsageError(f"--seed must be a whole number from 0 to {MAX_SEED}; got {cfg.seed}")
    return cfg


def _known(study: Study, key: str, label: str) -> None:
    names = [f.name for f in dataclasses.fields(study.config)]
    if key not in names:
        raise UsageError(f"{label}: {study.name} has no such setting; its settings: {', '.join(names)}")


def _config_file(study: Study, path: str) -> dict:
    """The settings in a JSON (``.json``) or TOML (any other name) file: a table of KEY = VALUE."""
    import tomllib

    try:
        text = Path(path).read_text()
        values = json.loads(text) if path.endswith(".json") else tomllib.loads(text)
    except OSError as e:
        raise UsageError(f"--config {path}: cannot be read ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        kind = "JSON" if path.endswith(".json") else "TOML"
        raise UsageError(f"--config {path}: not valid {kind} ({_first_line(e)})") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path}: must hold a table of settings (KEY = VALUE); got {type(values).__name__}")
    for key in values:
        _known(study, key, f"--config {path}: {key}")
    return values


def select_device(device: str | None) -> None:
    if device is None:
        return
    import jax

    platform_name = DEVICES[device]
    try:
        jax.config.update("jax_platforms", platform_name)
        found = jax.devices()[0].platform
        problem = None if found in (device, platform_name) else f"it found {found}"
    except Exception as e:  # no such backend: RuntimeError, or an AssertionError from jax's backend setup
        problem = _first_line(e) if str(e).strip() else "no backend initialised"
    if problem is not None:
        raise UsageError(
            f"--device {device}: JAX has no {platform_name} backend here ({problem}); "
            "install the matching jax build (e.g. pip install 'jax[cuda12]') or choose --device cpu"
        )


def _device_count(text: str) -> int | str:
    """``--devices``: a whole number of at least 1, or ``all``."""
    if text.strip().lower() == "all":
        return "all"
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, or all; got {text!r}")
    return n


def select_devices(study: Study, cfg: StudyConfig, wanted: int | str | None) -> list | None:
    """The devices ``--devices`` asks for (None: one device, `fit`'s default), each check one line.

    Data parallelism splits every batch over the devices (`cnnlab.train.fit`'s ``devices``), so
    the batch size must divide among them; a study that trains with `fit_many` (its seeds
    vmapped on one device) cannot use it.
    """
    if wanted is None:
        return None
    import jax

    visible = jax.devices()
    n = len(visible) if wanted == "all" else wanted
    if n > len(visible):
        platform = visible[0].platform
        hint = (
            "; on the CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N simulates N devices"
            if platform == "cpu" else ""
        )  # fmt: skip
        raise UsageError(f"--devices {wanted}: JAX sees {len(visible)} {platform} device(s) here{hint}")
    if not study.data_parallel:
        raise UsageError(
            f"--devices: {study.name} trains its seeds together on one device (fit_many); run it without --devices"
        )
    if cfg.batch_size % n:
        raise UsageError(f"--devices {wanted}: the batch size {cfg.batch_size} must be a multiple of {n} devices")
    return visible[:n]


def check_dir(option: str, path: Path) -> None:
    """Creates the directory ``path`` and writes a probe file there; `UsageError` naming ``option`` if it cannot."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".cnnlab-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot write there ({e.strerror or e})") from None


def check_earlier_run(out: Path, *, force: bool) -> None:
    """Refuses to write over an earlier run's results unless told to (``--force``, or ``--resume``,
    which continues that run)."""
    earlier = out / "metrics.json"
    if force or not earlier.exists():
        return
    try:
        record = json.loads(earlier.read_text())
        kind = "a quick run" if record.get("quick") else "a full run"
        when = f" of {record['finished']}" if record.get("finished") else ""
    except (OSError, ValueError, AttributeError):
        kind, when = "a run", ""
    raise UsageError(
        f"--out {out}: holds the results of {kind}{when}; pass --force to replace them, or --out DIR for another "
        "directory"
    )


def check_options(args: argparse.Namespace) -> None:
    """The options `Run` does not check itself: seed range, checkpoint flags, data directory."""
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be a whole number from 0 to {MAX_SEED}; got {args.seed}")
    if args.overwrite and args.resume:
        raise UsageError("--overwrite replaces the checkpoints --resume continues from; give one")
    if args.overwrite and args.checkpoint_dir is None and args.quick:
        raise UsageError("--overwrite: a --quick run without --checkpoint-dir DIR writes no checkpoints to replace")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise UsageError(f"--data-dir {args.data_dir}: no such directory")


def tensorboard_available() -> None:
    """`UsageError` before anything trains when ``--tensorboard`` is given without its writer library."""
    import importlib.util

    if importlib.util.find_spec("tensorboardX") is None:
        raise UsageError("--tensorboard needs the tensorboard extra: pip install 'cnnlab[tensorboard]'")
