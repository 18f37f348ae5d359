"""Early stopping: an ``on_epoch`` callback that returns True ends `fit` after that epoch."""

import numpy as np
import pytest
from flax import nnx

from cnnlab import train
from tests.train._models import SmallCNN, blobs, differing_leaves

CE = "softmax_cross_entropy"
KW = dict(loss=CE, optimizer="adam", batch_size=16, seed=2, verbose=False)


def _without_times(records):
    return [{k: v for k, v in r.items() if k not in ("time_s", "examples_per_s")} for r in records]


def test_stopping_after_epoch_two_leaves_what_a_two_epoch_run_leaves():
    x, y = blobs(96)
    stopped, short = SmallCNN(rngs=nnx.Rngs(0)), SmallCNN(rngs=nnx.Rngs(0))
    seen = []

    def stop_at_two(record):
        seen.append(record["epoch"])
        return record["epoch"] == 2

    h = train.fit(stopped, (x, y), val_data=(x[:32], y[:32]), epochs=5, on_epoch=stop_at_two, **KW)
    want = train.fit(short, (x, y), val_data=(x[:32], y[:32]), epochs=2, **KW)
    assert seen == [1, 2]
    assert _without_times(h.records) == _without_times(want.records)
    assert differing_leaves(nnx.state(stopped), nnx.state(short)) == []


def test_a_stopped_run_checkpoints_its_last_epoch_and_resumes_to_the_full_run(tmp_path):
    x, y = blobs(96)
    # Checkpoints every 3 epochs: epoch 2, where it stops, would otherwise have none.
    first = SmallCNN(rngs=nnx.Rngs(0))
    kw = dict(KW, epochs=4, checkpoint_dir=tmp_path, checkpoint_every=3)
    train.fit(first, (x, y), on_epoch=lambda r: r["epoch"] == 2, **kw)
    assert train.Checkpointer(tmp_path).epochs() == [2]
    resumed = SmallCNN(rngs=nnx.Rngs(7))  # other initial weights: the checkpoint must replace them
    h = train.fit(resumed, (x, y), resume=True, **kw)
    full = SmallCNN(rngs=nnx.Rngs(0))
    want = train.fit(full, (x, y), **dict(KW, epochs=4))
    assert [r["epoch"] for r in h.records] == [1, 2, 3, 4]
    assert _without_times(h.records) == _without_times(want.records)
    assert differing_leaves(nnx.state(resumed), nnx.state(full)) == []


@pytest.mark.parametrize(
    "answer, epochs_run",
    [
        (None, 3),
        (False, 3),
        (17, 3),  # e.g. the character count `file.write` returns: not a request to stop
        ("stop", 3),
        (np.True_, 1),  # `record["val_accuracy"] >= np.float32(0.9)` is a NumPy bool
        (True, 1),
    ],
)
def test_only_a_boolean_true_stops(answer, epochs_run):
    x, y = blobs(32)
    h = train.fit(SmallCNN(rngs=nnx.Rngs(0)), (x, y), epochs=3, on_epoch=lambda r: answer, **KW)
    assert len(h.records) == epochs_run
