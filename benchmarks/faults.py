"""SIGKILL a training run at random moments, resume after each kill, and check the result.

The fault suite of ``tests/train/test_faults.py`` as a standalone runner: chains of child
processes (`tests/train/fault_driver.py`), each killed at a random moment (mid-compilation,
mid-epoch, mid-save, just after a save, mid-retention, or after a random delay) and the
next one resuming, up to ``--kills`` kills (a chain also ends when a planned moment never
comes and the process finishes). Each chain's final parameters,
history and checkpoints are compared with an uninterrupted run's, bit for bit. Prints one
row per process and one verdict per chain.

    python benchmarks/faults.py --kills 20 --seed 0              # library: keep=2, then keep=2 + best
    python benchmarks/faults.py --kills 8 --seed 0 --cli         # cnnlab run mnist-cnn --quick --epochs 4
"""

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.train import fault_driver as fd  # noqa: E402

CLI_EPOCHS = 4


def _lib_args(d: Path, best: bool) -> list[str]:
    return ["lib", str(d / "ckpt"), str(d / "out")] + (["--best"] if best else [])


def _cli_args(d: Path) -> list[str]:
    return ["cli", "run", "mnist-cnn", "--quick", "--epochs", str(CLI_EPOCHS), "--quiet",
            "--checkpoint-dir", str(d / "ckpt"), "--out", str(d / "out")]  # fmt: skip


def _result(d: Path, cli: bool):
    """(final state, history records) of a finished chain or reference in ``d``."""
    from flax import nnx

    from cnnlab import models, train

    if not cli:
        return dict(np.load(d / "out.npz")), json.loads((d / "out.json").read_text())
    abstract = nnx.eval_shape(lambda: models.MnistCNN(rngs=nnx.Rngs(0)))
    model, _ = train.restore_model(abstract, d / "ckpt" / "model")
    m = json.loads((d / "out" / "metrics.json").read_text())
    return fd.flat_state(nnx.state(model)), fd.records(m["history"]["model"])


def chain(root: Path, name: str, kills: int, rng, *, cli: bool, best: bool) -> bool:
    """One reference run and one chain of ``kills`` random kills; prints them; True if all holds."""
    from flax import nnx

    from cnnlab import models

    cache, log = root / "jax-cache", root / f"{name}.log"
    make = (lambda d: _cli_args(d)) if cli else (lambda d: _lib_args(d, best))
    ref = fd.spawn(make(root / f"{name}-ref"), log=log, cache=cache)
    if ref.rc != 0:
        print(f"{name}: the uninterrupted run failed (exit {ref.rc}); see {log}")
        return False
    # Timed kills within the first half of the reference's time (which includes compiling).
    epochs, seconds = (CLI_EPOCHS, 0.5 * ref.seconds) if cli else (fd.EPOCHS, 1.5)
    budget = iter(range(kills))
    faults = lambda latest: fd.random_fault(rng, latest, epochs, seconds) if next(budget, None) is not None else ""
    d = root / name
    outcomes = fd.run_chain(make(d), [*make(d), "--resume"], faults, directory=_ckpt(d, cli), log=log, cache=cache)
    print(f"\n{name}: {sum(o.rc == -signal.SIGKILL for o in outcomes)} kills")
    print("| process | fault planned | exit | what happened | seconds |\n| --- | --- | --- | --- | --- |")
    for i, o in enumerate(outcomes, 1):
        print(f"| {i} | {o.fault or 'none'} | {o.rc} | {o.fired or 'ran to the end'} | {o.seconds:.1f} |")
    if outcomes[-1].rc != 0:
        print(f"{name}: FAILED: the last process exited {outcomes[-1].rc}; see {log}")
        return False
    (state, recs), (ref_state, ref_recs) = _result(d, cli), _result(root / f"{name}-ref", cli)
    problems = [] if recs == ref_recs else ["history differs from the uninterrupted run's"]
    problems += [f"{k} differs" for k in ref_state if k not in state or not np.array_equal(state[k], ref_state[k])]
    abstract = nnx.eval_shape(lambda: models.MnistCNN(rngs=nnx.Rngs(0))) if cli else nnx.eval_shape(fd.make_model)
    problems += fd.checkpoint_problems(_ckpt(d, cli), abstract, _ckpt(root / f"{name}-ref", cli), ref_recs,
                                       best=best)  # fmt: skip
    print(f"{name}: " + ("bit for bit equal to the uninterrupted run; every checkpoint restores" if not problems
                         else "FAILED: " + "; ".join(problems)))  # fmt: skip
    return not problems


def _ckpt(d: Path, cli: bool) -> Path:
    return d / "ckpt" / "model" if cli else d / "ckpt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="kills in all (split over the chains)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random moments")
    parser.add_argument("--cli", action="store_true", help="kill `cnnlab run mnist-cnn --quick` instead of fit")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    root = Path(tempfile.mkdtemp(prefix="cnnlab-faults-"))
    print(f"working in {root}")
    runs = [("cli", True, False)] if args.cli else [("keep2", False, False), ("keep2-best", False, True)]
    share = -(-args.kills // len(runs))
    ok = [chain(root, name, share, rng, cli=cli, best=best) for name, cli, best in runs]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
