"""The progress bar of fit / fit_many, seen through a pseudo-terminal: compilation shown as such,
then steps (not epochs); off a terminal nothing bar-like; the numbers the same bit for bit.

Each check runs a driver (this file as a script) in a subprocess whose stderr is a pty or a pipe.
"""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 25  # 100 examples in batches of 4: a scanned epoch reports every 2 steps, 1 left over
EPOCHS = 2
RUNS = ("scan", "per_step", "many")


def _drive(out: str) -> None:
    """Three verbose 2-epoch runs (fit's scan, fit per step, fit_many of 2 seeds); their final
    parameters and losses go to ``out`` (npz); a marker on stderr separates the runs."""
    import jax
    from flax import nnx

    from cnnlab import train
    from tests.train._models import Softmax, blobs

    x, y = blobs(100)
    kw = dict(loss="softmax_cross_entropy", optimizer="adam", epochs=EPOCHS, batch_size=4, verbose=True)
    saved = {}
    for run in RUNS:
        print(f"=== {run}", file=sys.stderr, flush=True)
        if run == "many":
            models, hists = train.fit_many(lambda r: Softmax(64, 3, rngs=r), [0, 1], (x, y), **kw)
        else:
            models = [Softmax(64, 3, rngs=nnx.Rngs(0))]
            hists = [train.fit(models[0], (x, y), val_data=(x, y), per_step=run == "per_step", **kw)]
        for j, (m, h) in enumerate(zip(models, hists)):
            saved[f"{run}{j}/loss"] = np.asarray(h["loss"])
            for i, leaf in enumerate(jax.tree.leaves(nnx.state(m, nnx.Param))):
                saved[f"{run}{j}/{i}"] = np.asarray(leaf)
    np.savez(out, **saved)


def _start(out: str, stderr):
    env = {**os.environ, "TQDM_MININTERVAL": "0", "PYTHONPATH": ROOT}  # draw every update
    cmd = [sys.executable, os.path.abspath(__file__), out]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def _drivers(tmp_path) -> tuple[tuple[str, dict], tuple[str, dict]]:
    """The driver with stderr a pty and, at the same time, with stderr a pipe: ``(stderr text,
    saved arrays)`` of each."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))  # tqdm fits its bar to the width
    tty = _start(str(tmp_path / "tty.npz"), slave)
    os.close(slave)
    pipe = _start(str(tmp_path / "pipe.npz"), subprocess.PIPE)
    try:
        tty_text = _read_pty(master, tty)
        pipe_text = pipe.communicate(timeout=120)[1].decode(errors="replace")
    finally:
        os.close(master)
        for proc in (tty, pipe):
            if proc.poll() is None:
                proc.kill()
    out = []
    for name, proc, text in (("tty", tty, tty_text), ("pipe", pipe, pipe_text)):
        assert proc.wait(timeout=120) == 0, text[-3000:]
        with np.load(tmp_path / f"{name}.npz") as f:
            out.append((text, dict(f)))
    return tuple(out)


def _read_pty(master: int, proc) -> str:
    """Everything the child writes to the pty, read as it comes (a full pty buffer would block it)."""
    chunks = []
    while select.select([master], [], [], 120)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child exited and closed its end
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The driver on a terminal and off one."""
    return _drivers(tmp_path_factory.mktemp("progress"))


def _sections(text: str) -> dict:
    parts = re.split(r"=== (\w+)", text)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.mark.parametrize("run", RUNS)
def test_terminal_shows_compiling_then_steps(runs, run):
    text = _sections(runs[0][0])[run]
    fn = "fit_many" if run == "many" else "fit"
    total = EPOCHS * STEPS
    assert f"{fn} compiling" in text, text[-2000:]
    assert re.search(rf"{fn}: compiled in \d+\.\d s", text), text[-2000:]
    found = [(m.start(), int(m.group(1))) for m in re.finditer(rf"(\d+)/{total} \[", text)]
    counts = {k for _, k in found}
    # Steps inside the first epoch (each epoch is one compiled scan on the default path).
    assert len(counts & set(range(1, STEPS))) > 1, sorted(counts)
    assert total in counts and "step/s" in text
    assert f"{fn} epoch 2/{EPOCHS}" in text
    # The compile was over before any step was counted.
    assert text.index("compiled in") < min(at for at, k in found if k > 0)


def test_no_bar_off_a_terminal(runs):
    text = runs[1][0]
    assert "\r" not in text
    for bar_like in ("compiling", "compiled in", "step/s", "%|", f"/{EPOCHS * STEPS}"):
        assert bar_like not in text, text[-2000:]


def test_numbers_do_not_depend_on_the_bar(runs):
    (_, shown), (_, quiet) = runs
    assert shown.keys() == quiet.keys() and len(shown) > 6
    differ = [k for k in shown if not np.array_equal(shown[k], quiet[k])]
    assert not differ, differ


if __name__ == "__main__":
    _drive(sys.argv[1])
