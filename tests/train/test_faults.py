"""SIGKILL during training, then resume: the result equals an uninterrupted run's, bit for bit.

Each process of a chain is a child (`tests/train/fault_driver.py`) killed at one moment:
mid-compilation, mid-epoch, mid-save, just after a save, mid-retention (an old
checkpoint being deleted) or after a delay; the next one resumes. When a process finally finishes,
its parameters and history (timing fields aside) must equal the uninterrupted run's, and
every checkpoint left must be listed, restore, and hold the uninterrupted run's bits.
The default run kills four times; ``-m slow`` about seventeen times more at random, through
the library and through ``cnnlab run``.
"""

import json
import signal

import numpy as np
import pytest
from flax import nnx

from cnnlab import models
from tests.train import fault_driver as fd

KILLED = -signal.SIGKILL


def _lib_args(directory, out, best):
    return ["lib", str(directory), str(out)] + (["--best"] if best else [])


def _report(outcomes) -> str:
    return "; ".join(f"{o.fault or 'none'} -> rc {o.rc} {o.fired!r} ({o.seconds:.1f} s)" for o in outcomes)


def _log_tail(log) -> str:
    return "\n".join(log.read_text().splitlines()[-40:])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted library run with best_metric, in this process: (dir, state, records)."""
    d = tmp_path_factory.mktemp("reference")
    model, history = fd.fit_lib(d / "ckpt", best=True, resume=False)
    return d / "ckpt", fd.flat_state(nnx.state(model)), fd.records(history.records)


def _check_lib(tmp_path, reference, outcomes, log, best=True):
    ref_dir, ref_state, ref_records = reference
    assert outcomes[-1].rc == 0, f"{_report(outcomes)}\n{_log_tail(log)}"
    state = dict(np.load(tmp_path / "out.npz"))
    assert state.keys() == ref_state.keys()
    assert [k for k in state if not np.array_equal(state[k], ref_state[k])] == []
    assert json.loads((tmp_path / "out.json").read_text()) == ref_records
    abstract = nnx.eval_shape(fd.make_model)
    assert fd.checkpoint_problems(tmp_path / "ckpt", abstract, ref_dir, ref_records, best=best) == []


def test_killed_mid_save_at_a_moment_mid_retention_and_after_the_last_save_resumes_bit_for_bit(tmp_path, reference):
    # Epoch 1 is the best by val_loss and is kept throughout: saving epoch 4 deletes epoch 2.
    log = tmp_path / "log.txt"
    args = _lib_args(tmp_path / "ckpt", tmp_path / "out", best=True)
    # The first process compiles for seconds: 0.5 s after READY is always before epoch 1 ends.
    plan = ["timed:0.5", "save:2", "delete", "commit:5"]
    outcomes = fd.run_chain(args, [*args, "--resume"], plan, directory=tmp_path / "ckpt", log=log,
                            cache=tmp_path / "jax-cache")  # fmt: skip
    assert [o.rc for o in outcomes[:4]] == [KILLED] * 4, f"{_report(outcomes)}\n{_log_tail(log)}"
    assert outcomes[0].fired.startswith("timed kill")
    assert outcomes[1].fired.startswith("FAULT save 2")
    assert outcomes[2].fired.startswith("FAULT delete 2")
    # The run is complete on disk, but the last save's retention never ran: resuming must apply it.
    assert outcomes[3].fired.startswith("FAULT commit 5")
    _check_lib(tmp_path, reference, outcomes, log)


@pytest.mark.slow
@pytest.mark.parametrize("best", [False, True], ids=["keep2", "keep2-best"])
def test_random_kills_library(tmp_path, best, reference):
    log = tmp_path / "log.txt"
    if best:
        ref = reference
    else:
        model, history = fd.fit_lib(tmp_path / "ref", best=False, resume=False)
        ref = (tmp_path / "ref", fd.flat_state(nnx.state(model)), fd.records(history.records))
    rng = np.random.default_rng(15 + best)
    kills = iter(range(7))
    faults = lambda latest: fd.random_fault(rng, latest, fd.EPOCHS, 1.5) if next(kills, None) is not None else ""
    args = _lib_args(tmp_path / "ckpt", tmp_path / "out", best)
    outcomes = fd.run_chain(args, [*args, "--resume"], faults, directory=tmp_path / "ckpt", log=log,
                            cache=tmp_path / "jax-cache")  # fmt: skip
    print(_report(outcomes))
    assert sum(o.rc == KILLED for o in outcomes) >= 4, _report(outcomes)
    _check_lib(tmp_path, ref, outcomes, log, best=best)


CLI_EPOCHS = 4  # one more than fit's default keep=3, so that retention deletes a checkpoint


def _cli_args(d):
    return ["cli", "run", "mnist-cnn", "--quick", "--epochs", str(CLI_EPOCHS), "--quiet",
            "--checkpoint-dir", str(d / "ckpt"), "--out", str(d / "out")]  # fmt: skip


def _cli_result(d):
    m = json.loads((d / "out" / "metrics.json").read_text())
    numbers = {k: v for k, v in m["metrics"].items() if k != "images_per_second"}
    return fd.records(m["history"]["model"]), numbers


@pytest.mark.slow
def test_random_kills_cli(tmp_path):
    cache = tmp_path / "jax-cache"
    ref = fd.spawn(_cli_args(tmp_path / "ref"), log=tmp_path / "ref.txt", cache=cache)
    assert ref.rc == 0, _log_tail(tmp_path / "ref.txt")
    ref_records, ref_numbers = _cli_result(tmp_path / "ref")
    rng = np.random.default_rng(15)
    kills = iter(range(8))
    # Timed kills within the first half of the reference's time: resumed processes read their
    # compiled programs from the cache and finish sooner than the reference, which compiled them.
    seconds = 0.5 * ref.seconds
    faults = lambda latest: fd.random_fault(rng, latest, CLI_EPOCHS, seconds) if next(kills, None) is not None else ""
    log, args = tmp_path / "log.txt", _cli_args(tmp_path)
    outcomes = fd.run_chain(args, [*args, "--resume"], faults, directory=tmp_path / "ckpt" / "model", log=log,
                            cache=cache)  # fmt: skip
    print(_report(outcomes))
    assert outcomes[-1].rc == 0, f"{_report(outcomes)}\n{_log_tail(log)}"
    assert sum(o.rc == KILLED for o in outcomes) >= 5, _report(outcomes)
    assert _cli_result(tmp_path) == (ref_records, ref_numbers)
    abstract = nnx.eval_shape(lambda: models.MnistCNN(rngs=nnx.Rngs(0)))
    problems = fd.checkpoint_problems(tmp_path / "ckpt" / "model", abstract, tmp_path / "ref" / "ckpt" / "model",
                                      ref_records, best=False)  # fmt: skip
    assert problems == []
