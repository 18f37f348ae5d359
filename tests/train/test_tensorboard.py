"""`TensorBoard` writes what `fit` and `fit_many` recorded, and TensorBoard reads it back.

The reader is the ``tensorboard`` package's own (`EventMultiplexer` / `EventAccumulator`,
in the test extra), not a TFRecord parser over tensorboardX's protobuf classes: it shares
no code with the writer, and it is what ``tensorboard --logdir`` runs, so files it reads
are files TensorBoard shows. The oracle is the `History` of the same run.
"""

import math
import sys
import time

import numpy as np
import pytest
from flax import nnx

pytest.importorskip("tensorboardX")
event_processing = pytest.importorskip("tensorboard.backend.event_processing.event_multiplexer")

from cnnlab import train  # noqa: E402
from tests.train._models import Softmax, blobs  # noqa: E402

CE = "softmax_cross_entropy"
X, Y = blobs(48)
KW = dict(loss=CE, optimizer="adam", epochs=2, batch_size=16, val_data=(X[:16], Y[:16]), verbose=False)


def _make(rngs):
    return Softmax(64, 3, rngs=rngs)


def _runs(logdir) -> dict:
    """``{run: {tag: [(step, value), ...]}}`` as TensorBoard loads ``logdir``."""
    mux = event_processing.EventMultiplexer().AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return {
        run: {tag: [(e.step, e.value) for e in mux.Scalars(run, tag)] for tag in tags["scalars"]}
        for run, tags in mux.Runs().items()
    }


def _expected(history: train.History) -> dict:
    """``{tag: [(step, value), ...]}``: every recorded key but the epoch, at float32 (``simple_value``)."""
    return {k: [(e, float(np.float32(v))) for e, v in zip(history["epoch"], history[k])] for k in history.keys()
            if k != "epoch"}  # fmt: skip


def _same(got: dict, want: dict) -> bool:
    """Equal tags, steps and values, NaN equal to NaN."""

    def eq(a, b):
        return a == b or (math.isnan(a) and math.isnan(b))

    return got.keys() == want.keys() and all(
        len(got[t]) == len(want[t]) and all(s == z and eq(a, b) for (s, a), (z, b) in zip(got[t], want[t]))
        for t in want
    )


def test_fit_writes_each_record_as_scalars_at_its_epoch(tmp_path):
    with train.TensorBoard(tmp_path, tag="lenet") as tb:
        history = train.fit(_make(nnx.Rngs(0)), (X, Y), on_epoch=tb, **KW)
    runs = _runs(tmp_path)
    assert list(runs) == ["lenet"]
    assert set(runs["lenet"]) == {"loss", "accuracy", "val_loss", "val_accuracy", "time_s", "examples_per_s"}
    assert _same(runs["lenet"], _expected(history))


def test_fit_many_writes_one_run_per_member(tmp_path):
    with train.TensorBoard(tmp_path, tag="sweep", members=[0, 3]) as tb:
        _, histories = train.fit_many(_make, [0, 3], (X, Y), on_epoch=tb, **KW)
    runs = _runs(tmp_path)
    assert sorted(runs) == ["sweep/seed_0", "sweep/seed_3"]
    for name, history in zip(["seed_0", "seed_3"], histories):
        assert _same(runs[f"sweep/{name}"], _expected(history))


def test_tags_keep_models_apart_each_epoch_is_flushed_and_nan_is_written(tmp_path):
    lenet, improved = train.TensorBoard(tmp_path, tag="lenet"), train.TensorBoard(tmp_path, tag="improved")
    lenet({"epoch": 1, "loss": 0.9, "val_accuracy": 0.71})
    improved({"epoch": 1, "loss": 0.5, "val_accuracy": 0.8})
    # Not closed: a running TensorBoard sees the epoch within a second or so (the writer's thread
    # flushes every second; TensorBoard itself reloads every 5 s).
    want = {
        "lenet": {"loss": [(1, pytest.approx(0.9))], "val_accuracy": [(1, pytest.approx(0.71))]},
        "improved": {"loss": [(1, 0.5)], "val_accuracy": [(1, pytest.approx(0.8))]},
    }
    deadline = time.monotonic() + 5
    while _runs(tmp_path) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _runs(tmp_path) == want
    lenet({"epoch": 2, "loss": math.nan, "val_accuracy": 0.75, "note": "not a number"})
    lenet.close()
    improved.close()
    loss = _runs(tmp_path)["lenet"]["loss"]
    assert [s for s, _ in loss] == [1, 2] and math.isnan(loss[1][1])
    with pytest.raises(RuntimeError, match="after close"):
        lenet({"epoch": 3, "loss": 0.1})


def test_members_and_records_must_agree(tmp_path):
    with train.TensorBoard(tmp_path) as one, train.TensorBoard(tmp_path, tag="m", members=["lr_0.1", 7]) as many:
        assert sorted(many.runs) == ["lr_0.1", "seed_7"]
        with pytest.raises(ValueError, match="pass members=seeds"):
            one([{"epoch": 1, "loss": 1.0}] * 2)
        with pytest.raises(ValueError, match="made with members"):
            many({"epoch": 1, "loss": 1.0})
        with pytest.raises(ValueError, match="got 3 records, but members names 2"):
            many([{"epoch": 1, "loss": 1.0}] * 3)
        with pytest.raises(ValueError, match="no 'epoch'"):
            one({"loss": 1.0})
    with pytest.raises(ValueError, match="name each member once"):
        train.TensorBoard(tmp_path, members=[0, 0])
    with pytest.raises(ValueError, match="tag must be one directory name"):
        train.TensorBoard(tmp_path, tag="a/b")


def test_a_logdir_that_is_a_file_is_refused_before_training(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(NotADirectoryError, match=f"{path} is a file; logdir must be a directory"):
        train.TensorBoard(path, tag="lenet")
    with pytest.raises(NotADirectoryError, match=f"{path} is a file"):
        train.TensorBoard(path)


def test_without_tensorboardx_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # `import tensorboardX` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'cnnlab\[tensorboard\]'"):
        train.TensorBoard(tmp_path)
    assert not any(tmp_path.iterdir())
