"""Issue #15 regressions in `fit`/`evaluate`/`fit_many`: nothing silent, nothing lost.

Each test failed on the code before the fix: NaN inputs and bad labels trained silently,
another run's checkpoints were deleted, half-deleted steps broke `restore_model`, `keep`
leaked across resumes, a different optimizer resumed silently, and a finite divergence
kept training and checkpointing.
"""

import os
import shutil
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from cnnlab import train
from tests.train._models import SmallCNN, Softmax, blobs, differing_leaves

X, Y = blobs(64)
CE = "softmax_cross_entropy"
KW = dict(loss=CE, optimizer={"name": "sgd", "learning_rate": 0.05}, batch_size=16, verbose=False)


def _epochs(directory):
    return sorted(int(p) for p in os.listdir(directory) if p.isdigit())


def _never(record):
    raise AssertionError(f"trained an epoch ({record}) before refusing")


# --- 1. non-finite inputs and parameters -------------------------------------------------


def test_fit_and_evaluate_refuse_a_nan_pixel_naming_it():
    x = X.astype(np.float32) / 255
    x[37, 2, 5, 0] = np.nan
    with pytest.raises(ValueError, match=r"fit: train_data inputs holds 1 non-finite .* index \(37, 2, 5, 0\)"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (x, Y), epochs=1, on_epoch=_never, **KW)
    with pytest.raises(ValueError, match=r"fit: val_data inputs .* index \(37, 2, 5, 0\)"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), val_data=(x, Y), epochs=1, on_epoch=_never, **KW)
    with pytest.raises(ValueError, match=r"evaluate: data inputs .* \(example 37\)"):
        train.evaluate(Softmax(64, 3, rngs=nnx.Rngs(0)), (x, Y), loss=CE)
    target = np.zeros((64, 64), np.float32)
    target[3, 9] = np.inf
    with pytest.raises(ValueError, match=r"fit: train_data targets holds 1 non-finite value\(s\); the first is inf "
                                         r"at index \(3, 9\)"):
        train.fit(Softmax(64, 64, rngs=nnx.Rngs(0)), (X, target), epochs=1, loss="mse", optimizer="sgd",
                  batch_size=16, verbose=False, on_epoch=_never)


def test_an_all_nan_kernel_stops_at_the_first_step():
    """Before: relu turned NaN into 0 and this trained at loss 2.30 without an error."""
    model = SmallCNN(rngs=nnx.Rngs(0))
    model.conv.kernel[...] = jnp.full_like(model.conv.kernel[...], jnp.nan)
    with pytest.raises(train.NonFiniteLossError, match=r"the loss became nan at epoch 1, step 1 of 4"):
        train.fit(model, (X, Y), epochs=1, **KW)


def test_parameters_that_go_nan_under_a_finite_loss_stop_the_run(tmp_path):
    """One step per epoch: the loss of that step is finite, the update it makes is NaN.
    Before: `fit` returned normally and checkpointed the NaN parameters."""

    def poison(updates, state, params=None):
        return jax.tree.map(lambda u: jnp.full_like(u, jnp.nan), updates), state

    model = Softmax(64, 3, rngs=nnx.Rngs(0))
    start = nnx.state(model, nnx.Param)
    with pytest.raises(train.NonFiniteLossError, match=r"a parameter .* became NaN/inf during epoch 1 while the "
                                                        r"loss stayed finite"):
        train.fit(model, (X[:16], Y[:16]), epochs=2, checkpoint_dir=tmp_path,
                  **{**KW, "optimizer": optax.GradientTransformation(lambda p: optax.EmptyState(), poison)})
    assert differing_leaves(nnx.state(model, nnx.Param), start) == []
    assert _epochs(tmp_path) == []


# --- 5. labels -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad, pattern", [
    (-1, r"labels must be class labels in \[0, 3\) \(the model has 3 outputs\); got -1 at index \(5,\)"),
    (3, r"labels .*; got 3 at index \(5,\)"),
])
def test_labels_out_of_range_are_refused_by_fit_and_evaluate(bad, pattern):
    y = Y.copy()
    y[5] = bad
    with pytest.raises(ValueError, match=rf"fit: train_data {pattern}"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, y), epochs=1, on_epoch=_never, **KW)
    with pytest.raises(ValueError, match=rf"evaluate: data {pattern}"):
        train.evaluate(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, y), loss=CE)


def test_float_labels_are_refused_in_arrays_and_streams():
    with pytest.raises(ValueError, match=r"fit: train_data labels must be integer class labels .* dtype float32"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y.astype(np.float32)), epochs=1, **KW)
    records = [{"image": X[i], "label": float(Y[i]) + (0.5 if i == 9 else 0.0)} for i in range(32)]
    with pytest.raises(ValueError, match=r"fit: train_data labels must be integer .* float64"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), records, epochs=1, **KW)
    records = [{"image": X[i], "label": int(Y[i]) if i != 20 else 7} for i in range(32)]
    with pytest.raises(ValueError, match=r"evaluate: data labels .* got 7 .*records 16\.\.31"):
        train.evaluate(Softmax(64, 3, rngs=nnx.Rngs(0)), records, loss=CE, batch_size=16)


# --- 6. divergence that stays finite -------------------------------------------------------


def test_a_finite_divergence_stops_before_it_is_checkpointed(tmp_path):
    """Adam at lr 1e6: before, the loss ran into the 1e11s and each epoch was checkpointed."""
    model = SmallCNN(rngs=nnx.Rngs(0))
    start = nnx.state(model, nnx.Param)
    with pytest.raises(train.DivergenceError, match=r"diverged at epoch 1: its mean .* over divergence_factor=100 "
                                                     r"times the lowest so far") as err:
        train.fit(model, (X, Y), epochs=3, checkpoint_dir=tmp_path,
                  **{**KW, "optimizer": {"name": "adam", "learning_rate": 1e6}})
    assert not isinstance(err.value, train.NonFiniteLossError)
    assert _epochs(tmp_path) == []
    assert differing_leaves(nnx.state(model, nnx.Param), start) == []
    with pytest.raises(ValueError, match=r"divergence_factor must be a finite number > 1"):
        train.fit(model, (X, Y), epochs=1, divergence_factor=0.5, **KW)


def test_retention_never_deletes_the_best_checkpoint(tmp_path):
    """The rate jumps after two good epochs; keep=1 used to delete the good checkpoint."""
    jump = optax.piecewise_constant_schedule(0.05, {8: 40.0})  # 4 steps an epoch: epoch 3 on at rate 2
    model = SmallCNN(rngs=nnx.Rngs(0))
    hist = train.fit(model, (X, Y), epochs=5, keep=1, checkpoint_dir=tmp_path, divergence_factor=None,
                     **{**KW, "optimizer": optax.sgd(jump)})
    best = int(np.argmin(hist["loss"])) + 1
    assert best < 5, hist["loss"]
    assert _epochs(tmp_path) == [best, 5]


# --- 3. another run's checkpoints ----------------------------------------------------------


def test_another_runs_checkpoints_are_refused_then_overwritten_on_request(tmp_path):
    train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=5, keep=3, checkpoint_dir=tmp_path, **KW)
    assert _epochs(tmp_path) == [3, 4, 5]
    with pytest.raises(train.CheckpointError, match=rf"{tmp_path} already holds checkpoints of epochs \[3, 4, 5\]; "
                                                     r"pass resume=True .* overwrite=True .* another checkpoint_dir"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(1)), (X, Y), epochs=2, checkpoint_dir=tmp_path, on_epoch=_never,
                  **KW)
    assert _epochs(tmp_path) == [3, 4, 5]
    with pytest.raises(train.CheckpointError, match=r"already holds checkpoints"):
        train.fit_many(lambda rngs: Softmax(64, 3, rngs=rngs), [0], (X, Y), epochs=1, checkpoint_dir=tmp_path,
                       **{k: v for k, v in KW.items() if k != "verbose"})
    train.fit(Softmax(64, 3, rngs=nnx.Rngs(1)), (X, Y), epochs=2, checkpoint_dir=tmp_path, overwrite=True, **KW)
    assert _epochs(tmp_path) == [1, 2]
    assert train.Checkpointer(tmp_path).read_meta(2)["config"]["num_examples"] == 64
    with pytest.raises(ValueError, match="pass one"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(1)), (X, Y), epochs=2, checkpoint_dir=tmp_path, overwrite=True,
                  resume=True, **KW)


# --- 4. checkpoint faults ------------------------------------------------------------------


def test_a_checkpoint_dir_that_cannot_be_written_fails_before_training(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(train.CheckpointError, match=rf"checkpoint_dir {tmp_path / 'file'} is a file"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=1, checkpoint_dir=tmp_path / "file",
                  on_epoch=_never, **KW)
    with pytest.raises(train.CheckpointError, match=r"cannot write checkpoints in checkpoint_dir /proc/cnnlab"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=1, checkpoint_dir="/proc/cnnlab",
                  on_epoch=_never, **KW)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: types.SimpleNamespace(free=4096))
    with pytest.raises(train.CheckpointError, match=r"has 0\.0 MiB free; a checkpoint needs about 1\.0 MiB"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=1, checkpoint_dir=tmp_path / "full",
                  on_epoch=_never, **KW)


def test_keep_holds_across_resumes_with_best_metric(tmp_path):
    """Before: 6 steps were left after resuming a keep=2 run to 6 epochs."""
    kw = dict(keep=2, best_metric="val_loss", val_data=(X, Y), checkpoint_dir=tmp_path, **KW)
    train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=3, **kw)
    hist = train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=6, resume=True, **kw)
    best = int(np.argmin(hist["val_loss"])) + 1
    assert _epochs(tmp_path) == sorted({best, 5, 6})


def test_resume_with_another_learning_rate_is_refused(tmp_path):
    kw = dict(checkpoint_dir=tmp_path, **{k: v for k, v in KW.items() if k != "optimizer"})
    train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=1, optimizer=optax.adam(1e-3), **kw)
    with pytest.raises(train.CheckpointError, match=r"other optimizer hyperparameters \(a different learning rate"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=2, optimizer=optax.adam(1e-2), resume=True, **kw)
    train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=1, **{**KW, "checkpoint_dir": tmp_path / "b"})
    with pytest.raises(train.CheckpointError, match=r"its optimizer is .*'learning_rate': 0.05.* this run's .*0.5"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=2, resume=True,
                  optimizer={"name": "sgd", "learning_rate": 0.5}, **{**kw, "checkpoint_dir": tmp_path / "b"})
    hist = train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (X, Y), epochs=2, optimizer=optax.adam(1e-3), resume=True,
                     **kw)
    assert hist["epoch"] == [1, 2]


def _half_delete(step_dir):
    """What a SIGKILL during orbax's own rmtree of a step leaves: some files gone, the step listed."""
    os.remove(step_dir / "state" / "_METADATA")
    shutil.rmtree(step_dir / "meta")


def test_a_half_deleted_step_is_skipped_then_cleaned(tmp_path):
    kw = dict(keep=5, best_metric="loss", checkpoint_dir=tmp_path, **KW)
    full = Softmax(64, 3, rngs=nnx.Rngs(0))
    train.fit(full, (X, Y), epochs=3, **kw)
    _half_delete(tmp_path / "3")
    abstract = nnx.eval_shape(lambda: Softmax(64, 3, rngs=nnx.Rngs(0)))
    with pytest.warns(RuntimeWarning, match=rf"checkpoint {tmp_path / '3'} skipped: it is incomplete"):
        _, meta = train.restore_model(abstract, tmp_path, epoch="best")
    assert meta["epoch"] == 2
    assert _epochs(tmp_path) == [1, 2, 3]  # reading never deletes
    (tmp_path / "2.deleting").mkdir()  # what a kill during our own retention leaves
    with pytest.warns(RuntimeWarning, match=r"incomplete .*; removing it"):
        model = Softmax(64, 3, rngs=nnx.Rngs(5))
        train.fit(model, (X, Y), epochs=3, resume=True, **kw)
    assert _epochs(tmp_path) == [1, 2, 3]
    assert not (tmp_path / "2.deleting").exists()
    assert differing_leaves(nnx.state(model), nnx.state(full)) == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path):
    kw = dict(checkpoint_dir=tmp_path, **KW)
    full = Softmax(64, 3, rngs=nnx.Rngs(0))
    train.fit(full, (X, Y), epochs=3, **kw)
    for f in (tmp_path / "3" / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":
            b = bytearray(f.read_bytes())
            b[len(b) // 2] ^= 0x10
            f.write_bytes(bytes(b))
    model = Softmax(64, 3, rngs=nnx.Rngs(5))
    with pytest.warns(RuntimeWarning, match=rf"{tmp_path / '3'} is corrupted.*resuming from {tmp_path / '2'}"):
        train.fit(model, (X, Y), epochs=3, resume=True, overwrite=False, **kw)
    assert differing_leaves(nnx.state(model), nnx.state(full)) == []
