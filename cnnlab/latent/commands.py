"""``cnnlab latent RUN COMMAND``: interpolate, grid, sample and encode with the models a run kept.

Each command loads the run (`cnnlab.runs.load`: its config and kept models, no training),
the test split of its dataset (restricted to ``config["classes"]`` when the study has them,
as latent-2d trains and tests on), computes its arrays with `cnnlab.latent.views`
(`interpolation`, `grid`, `samples`, `generated`, `codes`) and draws them with `cnnlab.viz`.
Errors are one line on stderr and status 2.
"""

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from cnnlab.latent.views import PATHS, CommandError, codes, generated, grid, interpolation, samples

PROG = "cnnlab latent"
HELD_OUT = "the run's test images: its dataset's test split, restricted to config['classes'] when it has classes"


# -- the run, its model and its test images -------------------------------------------------
def _model(run, tag: str | None, *, needs: tuple[str, ...] = ("encode", "decode")):
    """The model ``tag`` (or the only one) and its tag; an error if it lacks a method in ``needs``."""
    if not run.models:
        raise CommandError(f"{run.directory}: the run kept no models (rerun it with this cnnlab to keep them)")
    if tag is None and len(run.models) > 1:
        raise CommandError(
            f"the run kept {len(run.models)} models ({', '.join(run.models)}); pick one with --model TAG"
        )
    model = run.model(tag)
    tag = tag if tag is not None else next(iter(run.models))
    _require(run, tag, model, needs)
    return tag, model


def _require(run, tag: str, model, needs: tuple[str, ...]) -> None:
    missing = [m for m in needs if not callable(getattr(model, m, None))]
    if missing:
        what = {"encode": "an encoder", "decode": "a decoder"}[missing[0]]
        raise CommandError(
            f"model {tag!r} of {run.experiment} is a {type(model).__name__}, without {what}; "
            "these commands need an autoencoder"
        )


def _images(run, data_dir: str | None, split: str = "test"):
    """``(images, labels, indices, class_names)`` of the run's ``split``, restricted to its classes (`HELD_OUT`)."""
    from cnnlab import data

    name = run.config.get("dataset")
    if not name:
        raise CommandError(f"{run.directory}: its config names no dataset")
    logger = logging.getLogger("cnnlab.data")
    level = logger.level
    logger.setLevel(logging.ERROR)  # "using the offline subset" is the run's own data, checked below
    try:
        ds = data.load(name, split, **({"data_dir": data_dir, "source": "files"} if data_dir else {}))
    finally:
        logger.setLevel(level)
    recorded = run.record.get("data", {}).get(f"n_{split}")
    if recorded is not None and recorded != len(ds):
        raise CommandError(
            f"the run used {recorded} {name} {split} images and {len(ds)} are loaded here; "
            "pass the run's --data-dir so the indices name the same images"
        )
    labels = np.asarray(ds.labels)
    classes = run.config.get("classes")
    indices = np.flatnonzero(np.isin(labels, classes)) if classes else np.arange(len(labels))
    return ds.images[indices], labels[indices], indices, ds.class_names


def _out(run, given: str | None, default: str, force: bool) -> Path:
    """``--out`` or ``RUN/latent/DEFAULT``; an existing file only with ``--force``."""
    path = Path(given) if given else run.directory / "latent" / default
    if path.exists() and not force:
        raise CommandError(f"{path} exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _index(name: str, i: int, n: int) -> int:
    if not 0 <= i < n:
        raise CommandError(f"{name} {i} is out of range: the run has {n} test images (0 to {n - 1})")
    return i


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


# -- the commands ---------------------------------------------------------------------------
def _interpolate(run, args) -> Path:
    from cnnlab.viz import latent as vlatent

    tag, model = _model(run, args.model)
    images, labels, _, names = _images(run, args.data_dir)
    i, j = _index("--from", args.start, len(images)), _index("--to", args.end, len(images))
    out = _out(run, args.out, f"interpolate_{i}_{j}.png", args.force)
    rows = interpolation(model, images[i], images[j], steps=args.steps, path=args.path, space=args.space)
    group = f"test image {i} ({names[labels[i]]}) → test image {j} ({names[labels[j]]})"
    title = f"{run.experiment}, model {tag!r}: interpolation"
    return _save(vlatent.interpolation_strips([(group, list(rows.items()))], title=title), out)


def _grid(run, args) -> Path:
    from cnnlab.viz import latent as vlatent

    tag, model = _model(run, args.model)
    out = _out(run, args.out, "grid.png", args.force)
    images, labels, _, names = _images(run, args.data_dir)
    g = grid(model, codes(model, images), args.n)
    title = f"{run.experiment}, model {tag!r}: what the latent plane decodes to"
    fig = vlatent.latent_manifold(
        g["images"], g["coords"], z=g["points"], labels=labels, class_names=names, title=title
    )
    if g["pca"] is not None:  # the axes are principal-component scores, not latent coordinates
        for ax in fig.axes:
            ax.set_xlabel("principal component 1 of the test codes")
            ax.set_ylabel("principal component 2")
        fig.axes[0].set_title("test codes projected on their first two principal components")
        fig.axes[-1].set_title(f"decoded {args.n}×{args.n} grid; other components at the mean")
    return _save(fig, out)


def _sample(run, args) -> Path:
    from cnnlab import models, viz

    tag, model = _model(run, args.model, needs=("decode",))
    classes = run.config.get("classes")
    images, labels, _, names = _images(run, args.data_dir, args.split)
    allowed = list(classes) if classes else list(range(len(names)))
    if args.digit not in allowed:
        raise CommandError(f"--digit {args.digit} is not a class of this run; it has {allowed}")
    out = _out(run, args.out, f"sample_{args.digit}.png", args.force)
    if isinstance(model, models.NoiseToDigit):
        if not (run.experiment == "noise-to-digit" and tag == "phase2"):
            raise CommandError(
                f"model {tag!r} is a generator of unconditioned noise; use --model phase2 or an autoencoder"
            )
        if args.temperature is not None:
            raise CommandError("--temperature scales latent Gaussians; the phase2 generator draws class-coded noise")
        s = generated(model, args.digit, n=args.n, seed=args.seed)
        what = f"generator {tag} on noise from [{100 * args.digit}, {100 * args.digit + 100})"
    else:
        _require(run, tag, model, ("encode",))
        t = 1.0 if args.temperature is None else args.temperature
        s = samples(model, codes(model, images), labels, args.digit, n=args.n, temperature=t, seed=args.seed)
        spread = "cov" if t == 1 else f"{t:g}² cov"
        what = f"N(mean, {spread}) of the {s['count']} {args.split} codes of {names[args.digit]}"
    cols = min(args.n, 8)
    shown = np.concatenate([s["images"], np.full((-args.n % cols, *s["images"].shape[1:]), np.nan)])  # NaN: blank
    rows = [("" if r else names[args.digit], shown[r * cols : (r + 1) * cols]) for r in range(len(shown) // cols)]
    return _save(viz.image_rows(rows, title=f"{run.experiment}, model {tag!r}: {what}"), out)


def _encode(run, args) -> Path:
    tag, model = _model(run, args.model)
    out = _out(run, args.out, "codes.npz", args.force)
    images, labels, indices, _ = _images(run, args.data_dir)
    with open(out, "wb") as f:  # a file object: np.savez would append .npz to a name without it
        np.savez(f, codes=codes(model, images), labels=labels, indices=indices)
    return out


# -- the command line -----------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the usage block
        from cnnlab.studies._harness import error_line

        print(error_line(PROG, message), file=sys.stderr)
        raise SystemExit(2)


def _at_least(k: int):
    def whole(text: str) -> int:
        n = int(text)
        if n < k:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {k}; got {text}")
        return n

    return whole


def _temperature(text: str) -> float:
    t = float(text)
    if not t >= 0 or t == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text}")
    return t


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Latent-space figures from a saved run's models, without training. Images are indexed "
        f"among {HELD_OUT}. Figures go to RUN/latent/ unless --out says otherwise; an existing file is "
        "replaced only with --force.",
    )
    p.add_argument("run", metavar="RUN", help="a run directory (cnnlab run NAME --out RUN)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name, help, default):
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--model", metavar="TAG", help="the kept model (needed when the run kept several)")
        c.add_argument("--out", metavar="FILE", help=f"file to write (default: RUN/latent/{default})")
        c.add_argument("--force", action="store_true", help="replace --out if it exists")
        c.add_argument("--data-dir", metavar="D", help="the --data-dir the run was given, if any")
        return c

    c = command("interpolate", "decode a path between two test images, beside the pixel cross-fade",
                "interpolate_I_J.png")  # fmt: skip
    c.add_argument("--from", dest="start", type=int, required=True, metavar="I", help=f"index among {HELD_OUT}")
    c.add_argument("--to", dest="end", type=int, required=True, metavar="J", help="index of the other image")
    c.add_argument("--space", choices=("pixel", "latent", "both"), default="both", help="default: %(default)s")
    c.add_argument("--path", choices=tuple(PATHS), default="lerp", help="latent path (default: %(default)s)")
    c.add_argument("--steps", type=_at_least(2), default=9, help="images per row, ends included (default: %(default)s)")
    c.set_defaults(func=_interpolate)
    c = command("grid", "the decoded grid over the test codes: the latent plane for 2-D codes, else the plane of "
                "their first two principal components (other components at the mean)", "grid.png")  # fmt: skip
    c.add_argument("--n", type=_at_least(2), default=15, help="grid points per side (default: %(default)s)")
    c.set_defaults(func=_grid)
    c = command("sample", "new images of one class: Gaussian samples from its codes' mean and covariance "
                "(noise-to-digit's phase2 generator: class-coded noise)", "sample_D.png")  # fmt: skip
    c.add_argument("--digit", type=int, required=True, metavar="D", help="the class (one of config['classes'], if set)")
    c.add_argument("--temperature", type=_temperature, metavar="T", help="covariance scaled by T² (default: 1)")
    c.add_argument("--n", type=_at_least(1), default=16, help="samples (default: %(default)s)")
    c.add_argument("--split", choices=("test", "train"), default="test", help="codes the statistics come from")
    c.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    c.set_defaults(func=_sample)
    c = command("encode", f"the codes of {HELD_OUT}, as an .npz of codes, labels and indices (positions in the "
                "dataset's test split; row k is --from k)", "codes.npz")  # fmt: skip
    c.set_defaults(func=_encode)
    return p


def main(argv: list[str]) -> int:
    """``cnnlab latent RUN COMMAND ...``: prints where it wrote; errors are one line and status 2."""
    from cnnlab import runs
    from cnnlab.data import DataUnavailableError
    from cnnlab.studies._harness import error_line
    from cnnlab.train.checkpoint import CheckpointError

    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad option (2, already printed)
        return int(e.code or 0)
    try:
        run = runs.load(args.run)
        out = args.func(run, args)
    except (CommandError, runs.RunError, CheckpointError, DataUnavailableError, OSError) as e:
        print(error_line(PROG, str(e).strip().splitlines()[0]), file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
