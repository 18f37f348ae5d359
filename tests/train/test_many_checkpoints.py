"""fit_many with checkpoints: an interrupted sweep resumes to exactly the uninterrupted one; mismatches are named."""

import jax
import numpy as np
import pytest
from flax import nnx

from cnnlab import train
from tests.train._models import SmallCNN, blobs

CE = "softmax_cross_entropy"


def _sweep(epochs, seeds=(0, 3), **kw):
    x, y = blobs(64)
    return train.fit_many(lambda rngs: SmallCNN(rngs=rngs), list(seeds), (x, y), loss=CE, optimizer="adam",
                          epochs=epochs, batch_size=16, val_data=(x[:20], y[:20]), **kw)  # fmt: skip


def test_resume_equals_the_uninterrupted_sweep(tmp_path):
    full_models, full_h = _sweep(3)
    _sweep(1, checkpoint_dir=tmp_path)  # "interrupted" after epoch 1
    assert train.Checkpointer(tmp_path).epochs() == [1]
    models, hists = _sweep(3, checkpoint_dir=tmp_path, resume=True)
    for a, b in zip(models, full_models):
        for kind in (nnx.Param, nnx.BatchStat):
            jax.tree.map(np.testing.assert_array_equal, nnx.state(a, kind), nnx.state(b, kind))
    for h, g in zip(hists, full_h):
        assert [r["epoch"] for r in h.records] == [1, 2, 3]
        assert h.curves() == g.curves()
    assert train.Checkpointer(tmp_path).epochs() == [1, 2, 3]


def test_resume_from_another_setup_names_what_differs(tmp_path):
    _sweep(1, checkpoint_dir=tmp_path)
    with pytest.raises(
        train.CheckpointError, match=r"cannot resume from .*: its seeds is \[0, 3\] but this run's is \[0, 4\]"
    ):
        _sweep(2, seeds=(0, 4), checkpoint_dir=tmp_path, resume=True)


def test_checkpoint_arguments_are_checked():
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        _sweep(1, resume=True)
    with pytest.raises(ValueError, match="checkpoint_every must be a positive int; got 0"):
        _sweep(1, checkpoint_dir="x", checkpoint_every=0)
