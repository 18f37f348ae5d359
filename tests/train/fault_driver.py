"""The program the fault suite kills, and the parent side that kills, resumes and checks it.

Child (one training run, library or CLI, that may SIGKILL itself):

    python -m tests.train.fault_driver lib DIR OUT [--best] [--resume]
    python -m tests.train.fault_driver cli run mnist-cnn --quick ... [--resume]

``lib`` trains `FaultNet` on `blobs` with ``checkpoint_dir=DIR, keep=2`` (``--best``: also
``best_metric="val_loss"``, on flipped validation labels so that an early epoch stays the
best while later ones are saved) and writes the final state to ``OUT.npz`` and the history
to ``OUT.json``. ``cli`` runs ``cnnlab.cli.main`` on the rest of the line. Once imported,
the child prints ``READY`` on stdout: the parent's timed kills count from there.

``CNNLAB_FAULT`` arms one fault in the child only; orbax and the engine are patched here,
never in the library. The child prints ``FAULT <what>`` on stderr, then SIGKILLs itself:

  compile         the epoch program is lowered, XLA has not compiled it yet
  epoch:E         epoch E's program has just been dispatched (mid-epoch)
  save:E          checkpoint E's temporary directory is written, not yet renamed into place
  commit:E        checkpoint E is renamed into place; old ones not yet deleted
  delete[:S]      an old checkpoint is being deleted (by cnnlab's retention, or orbax's): every
                  other file of it (with a seed S, a random share) is gone, the rest is left
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EPOCHS, KEEP, BATCH = 5, 2, 16
TIMING = ("time_s", "examples_per_s")  # history fields that differ between runs by nature


# -- the child ----------------------------------------------------------------------------


def die(what: str) -> None:
    print(f"FAULT {what}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def arm(fault: str) -> None:
    """Installs the hook ``fault`` names (see the module docstring)."""
    kind, *args = fault.split(":")
    nums = [int(a) for a in args]
    if kind == "compile":
        import jax
        from jax._src import dispatch

        def lowered(event, _secs, **kw):
            if event == dispatch.JAXPR_TO_MLIR_MODULE_EVENT and "scan_epoch" in kw.get("fun_name", ""):
                die("compile: epoch program lowered, not compiled")

        jax.monitoring.register_event_duration_secs_listener(lowered)
    elif kind == "epoch":
        from cnnlab.train import core

        real = core.scan_epoch

        def scan_epoch(spec, carry, epoch, *rest):
            out = real(spec, carry, epoch, *rest)
            if int(epoch) + 1 == nums[0]:
                die(f"epoch {nums[0]}: dispatched")
            return out

        core.scan_epoch = scan_epoch
    elif kind in ("save", "commit"):
        from orbax.checkpoint._src.path import atomicity

        cls = atomicity.AtomicRenameTemporaryPath
        real_finalize = cls.finalize

        async def finalize(self):
            step = self.get_final().name == str(nums[0])  # the step itself, not one of its items
            if step and kind == "save":
                die(f"save {nums[0]}: written to {self.get().name}, not renamed")
            await real_finalize(self)
            if step:
                die(f"commit {nums[0]}: renamed, old checkpoints not yet deleted")

        cls.finalize = finalize
    elif kind == "delete":
        import shutil

        from orbax.checkpoint._src.path import deleter

        def partial_delete(target, name):
            files = sorted(p for p in Path(target).rglob("*") if p.is_file())
            if nums:  # a random share
                rng = np.random.default_rng(nums[0])
                share = rng.uniform(0.1, 0.9)
                gone = [f for f in files if rng.random() < share]
            else:
                gone = files[::2]
            for f in gone:
                f.unlink()
            die(f"delete {name}: {len(gone)} of {len(files)} files removed")

        real_rmtree = shutil.rmtree

        def rmtree(path, *a, **k):  # cnnlab's own retention: a step renamed to E.deleting, then removed
            name = os.path.basename(os.fspath(path))
            if re.fullmatch(r"\d+(\.deleting)?", name):
                partial_delete(path, name)
            return real_rmtree(path, *a, **k)

        shutil.rmtree = rmtree
        # orbax's retention (cnnlab before it kept its own): files removed in place.
        deleter.StandardCheckpointDeleter._delete_step_permanently = lambda self, step, target: partial_delete(
            target, str(step))
    else:
        raise ValueError(f"fault_driver: unknown CNNLAB_FAULT {fault!r}")


def make_model(seed: int = 0):
    """FaultNet: (N,8,8,1) -conv3 same-> (N,8,8,4) -BN-relu-pool2-> (N,4,4,4) -> (N,64) -dropout-> (N,3).

    cnnlab.nn layers (NumPy initialisers: nothing to compile before training), with batch
    statistics and dropout so that resume must restore more than the parameters.
    """
    from flax import nnx

    from cnnlab import nn, ops

    r = nnx.Rngs(seed)
    return nn.Sequential(
        nn.Conv2D(1, 4, 3, padding="same", use_bias=False, rngs=r), nn.BatchNorm(4, rngs=r), ops.relu,
        nn.MaxPool2D(2), nn.Flatten(), nn.Dropout(0.3, rngs=r), nn.Dense(64, 3, rngs=r),
    )  # fmt: skip


def fit_lib(directory, *, best: bool, resume: bool):
    """The library run: (model, history)."""
    from cnnlab import train
    from tests.train._models import blobs

    x, y = blobs(96)
    model = make_model()
    best_kw = dict(best_metric="val_loss", val_data=(x, (y + 1) % 3)) if best else {}
    history = train.fit(
        model, (x, y), loss="softmax_cross_entropy", optimizer={"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
        epochs=EPOCHS, batch_size=BATCH, seed=1, verbose=False, checkpoint_dir=directory, keep=KEEP,
        resume=resume, **best_kw,
    )  # fmt: skip
    return model, history


def flat_state(tree) -> dict[str, np.ndarray]:
    """Leaves of a pytree (an NNX state) by path, typed PRNG keys as their data."""
    import jax

    out = {}
    for path, v in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key):
            v = jax.random.key_data(v)
        out[jax.tree_util.keystr(path)] = np.asarray(v)
    return out


def records(history_records) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history_records]


def _child(argv: list[str]) -> int:
    import jax

    # As tests/conftest.py sets them, so a child computes what the test process computes.
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_default_matmul_precision", "highest")
    fault = os.environ.get("CNNLAB_FAULT", "")
    mode, rest = argv[0], argv[1:]
    if mode == "cli":
        from cnnlab import cli

        if fault:
            arm(fault)
        print("READY", flush=True)
        return cli.main(rest)
    from flax import nnx

    directory, out = rest[0], rest[1]
    if fault:
        arm(fault)
    print("READY", flush=True)
    model, history = fit_lib(directory, best="--best" in rest, resume="--resume" in rest)
    np.savez(out + ".npz", **flat_state(nnx.state(model)))
    with open(out + ".json", "w") as f:
        json.dump(records(history.records), f)
    return 0


# -- the parent ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """One child process: the fault planned, its exit status, what fired, how long it ran."""

    fault: str
    rc: int
    fired: str  # the child's FAULT line, "timed kill after D s", or "" (ran to the end)
    seconds: float


def spawn(args: list[str], fault: str = "", *, log, cache=None, timeout: float = 600) -> Outcome:
    """Runs the child with ``args``; ``fault`` is a CNNLAB_FAULT, or ``timed:D`` (a SIGKILL from here,
    D seconds after the child's READY). ``cache``: a JAX compilation cache directory shared by
    the children, so that only the first compiles (a fixed hash seed keeps its keys stable)."""
    env = {**os.environ, "CNNLAB_OFFLINE": "1", "CNNLAB_FAULT": "" if fault.startswith("timed") else fault}
    if cache is not None:
        env.update(PYTHONHASHSEED="0", JAX_COMPILATION_CACHE_DIR=str(cache),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    t0 = time.perf_counter()
    with open(log, "a") as err:
        print(f"--- {args} fault={fault!r}", file=err, flush=True)
        proc = subprocess.Popen([sys.executable, "-m", "tests.train.fault_driver", *args], cwd=root, env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)  # fmt: skip
        fired = ""
        if fault.startswith("timed"):
            ready = proc.stdout.readline().strip() == "READY"
            time.sleep(float(fault.split(":")[1]))
            if ready and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                fired = f"timed kill {fault.split(':')[1]} s after READY"
        try:
            proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    with open(log) as f:
        last = [ln.strip() for ln in f if ln.startswith(("--- ", "FAULT "))][-1]
    if not fired and proc.returncode == -signal.SIGKILL and last.startswith("FAULT "):
        fired = last
    return Outcome(fault, proc.returncode, fired, time.perf_counter() - t0)


def latest_on_disk(directory) -> int:
    """The highest epoch directory in ``directory`` (0 if none), intact or not."""
    if not os.path.isdir(directory):
        return 0
    return max([int(p) for p in os.listdir(directory) if p.isdigit()], default=0)


def run_chain(first, resumed, faults, *, directory, log, cache=None) -> list[Outcome]:
    """Runs ``first`` under the first fault, then ``resumed`` under each next one, then unfaulted,
    until a process finishes (exit 0) or fails otherwise (neither 0 nor SIGKILL).

    Args:
      first, resumed: the child's arguments for a fresh run and for a resumed one.
      faults: a list of faults, or a callable ``latest_epoch -> fault`` ("" to stop), e.g.
        `random_fault`; ``latest_epoch`` is what is on disk in ``directory`` before each process.
    """
    pending = iter(faults) if isinstance(faults, list) else None
    outcomes = []
    while True:
        fault = next(pending, "") if pending is not None else faults(latest_on_disk(directory))
        o = spawn(resumed if outcomes else first, fault, log=log, cache=cache)
        outcomes.append(o)
        if o.rc != -signal.SIGKILL:
            return outcomes


def random_fault(rng: np.random.Generator, latest: int, epochs: int, seconds: float) -> str:
    """A fault at a random moment of a run that resumes after epoch ``latest`` of ``epochs``:
    a hook on an epoch still to come, a deletion, or a kill 0 to ``seconds`` after READY."""
    kind = rng.choice(["compile", "epoch", "save", "commit", "delete", "timed", "timed"])
    if kind == "timed" or latest >= epochs:  # all trained: only the restore and what follows are left
        return f"timed:{rng.uniform(0, seconds):.2f}"
    if kind == "delete":
        return f"delete:{rng.integers(1000)}"
    if kind == "compile":
        return kind
    # The next epoch or the one after: a chain advances slowly, so there is room for more kills.
    return f"{kind}:{rng.integers(latest + 1, min(latest + 2, epochs) + 1)}"


def checkpoint_problems(directory, abstract_model, reference_dir, ref_records, *, best: bool) -> list[str]:
    """What is wrong with ``directory`` next to the uninterrupted run's ``reference_dir``:
    the epochs kept differ, a directory on disk is not listed, a listed one does not restore,
    or restores to other bits or another history. [] when nothing is."""
    from cnnlab import train

    problems = []
    on_disk = sorted(int(p) for p in os.listdir(directory) if p.isdigit())
    listed = train.Checkpointer(directory, read_only=True).epochs()
    expected = train.Checkpointer(reference_dir, read_only=True).epochs()
    if not on_disk == listed == expected:
        problems.append(f"epochs on disk {on_disk}, listed {listed}, uninterrupted run kept {expected}")
    for epoch in listed:
        try:
            model, meta = train.restore_model(abstract_model, directory, epoch=epoch)
        except Exception as e:
            problems.append(f"epoch {epoch} does not restore: {type(e).__name__}: {e}")
            continue
        if records(meta["history"]["records"]) != ref_records[:epoch]:
            problems.append(f"epoch {epoch}: its history differs from the uninterrupted run's")
        if epoch in expected:
            from flax import nnx

            ref_model, _ = train.restore_model(abstract_model, reference_dir, epoch=epoch)
            a, b = flat_state(nnx.state(model)), flat_state(nnx.state(ref_model))
            if a.keys() != b.keys() or any(not np.array_equal(a[k], b[k]) for k in a):
                problems.append(f"epoch {epoch}: its state differs from the uninterrupted run's")
    if best:
        try:
            got = train.restore_model(abstract_model, directory, epoch="best")[1]["epoch"]
            want = train.restore_model(abstract_model, reference_dir, epoch="best")[1]["epoch"]
            if got != want:
                problems.append(f"best epoch {got}, uninterrupted run's {want}")
        except Exception as e:
            problems.append(f"restore_model(epoch='best') fails: {type(e).__name__}: {e}")
    return problems


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
