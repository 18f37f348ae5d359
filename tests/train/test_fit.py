"""fit / evaluate / predict against NumPy oracles, and their contracts: both paths agree,
a seed fixes a run, modes switch, every example counts once in evaluation."""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from cnnlab import data, ops, train
from tests.tolerances import assert_close
from tests.train._models import SmallCNN, Softmax, TinyAE, blobs, differing_leaves

CE = "softmax_cross_entropy"


def _numpy_sgd(w, b, x, y, order, lr):
    """Plain SGD on softmax regression in float64, batch by batch in ``order``.

    Returns final (w, b) and the loss of each batch before its update.
    """
    x = x.reshape(len(x), -1).astype(np.float64) / 255
    losses = []
    for rows in order:
        xb, yb = x[rows], y[rows]
        z = xb @ w + b
        z = z - z.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        losses.append(-np.mean(np.log(p[np.arange(len(rows)), yb])))
        d = p.copy()
        d[np.arange(len(rows)), yb] -= 1
        d /= len(rows)
        w, b = w - lr * xb.T @ d, b - lr * d.sum(0)
    return w, b, losses


@pytest.mark.parametrize("per_step", [False, True])
def test_sgd_epochs_match_numpy(per_step):
    x, y = blobs(50)
    model = Softmax(64, 3, rngs=nnx.Rngs(0))
    w0, b0 = np.asarray(model.dense.kernel[...], np.float64), np.asarray(model.dense.bias[...], np.float64)
    hist = train.fit(model, (x, y), loss=CE, optimizer={"name": "sgd", "learning_rate": 0.5}, epochs=2,
                     batch_size=8, seed=3, per_step=per_step, verbose=False)
    # The documented order: epoch e shuffles with fold_in(fold_in(key(seed), 0), e), remainder dropped.
    shuffle = jax.random.fold_in(jax.random.key(3), 0)
    order = np.concatenate([np.asarray(data.epoch_indices(jax.random.fold_in(shuffle, e), 50, batch_size=8)[0])
                            for e in range(2)])
    assert order.shape == (12, 8)
    w, b, losses = _numpy_sgd(w0, b0, x, y, order, 0.5)
    assert_close(model.dense.kernel[...], w, np.float32, grad=True)
    assert_close(model.dense.bias[...], b, np.float32, grad=True)
    assert_close(hist["loss"], [np.mean(losses[:6]), np.mean(losses[6:])], np.float32, grad=True)
    assert not np.allclose(w, w0)


def _small_fit(seed=0, per_step=False, epochs=2, **kw):
    x, y = blobs(96)
    model = SmallCNN(rngs=nnx.Rngs(0))
    hist = train.fit(model, (x, y), loss=CE, optimizer="adam", epochs=epochs, batch_size=16, val_data=(x, y),
                     seed=seed, per_step=per_step, verbose=False, **kw)
    return model, hist


def test_scan_and_per_step_agree():
    m_scan, h_scan = _small_fit()
    m_step, h_step = _small_fit(per_step=True)
    for a, b in zip(h_scan.curves(), h_step.curves()):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 nnx.state(m_scan, nnx.Param), nnx.state(m_step, nnx.Param))


def test_same_seed_same_run_bit_for_bit():
    m1, h1 = _small_fit(seed=5)
    m2, h2 = _small_fit(seed=5)
    assert h1.curves() == h2.curves()
    assert differing_leaves(nnx.state(m1), nnx.state(m2)) == []
    _, h3 = _small_fit(seed=6)
    assert h3.curves() != h1.curves()  # the seed matters: shuffling and dropout change


def test_history_records_and_learning():
    _, h = _small_fit(epochs=4)
    assert h["epoch"] == [1, 2, 3, 4]
    assert set(h.keys()) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "time_s", "examples_per_s"}
    assert h["loss"][-1] < h["loss"][0] and h["val_accuracy"][-1] > h["val_accuracy"][0]
    assert all(r["examples_per_s"] > 0 for r in h.records)
    assert h.config["batch_size"] == 16 and h.config["optimizer"]["name"] == "adam"


def test_batchnorm_statistics_follow_the_batches():
    """Parameters frozen (set_to_zero): the running mean/var follow flax's rule over the documented order."""
    x, y = blobs(40)
    model = SmallCNN(rngs=nnx.Rngs(0))
    train.fit(model, (x, y), loss=CE, optimizer=optax.set_to_zero(), epochs=1, batch_size=8, verbose=False)
    order = np.asarray(data.epoch_indices(jax.random.fold_in(jax.random.fold_in(jax.random.key(0), 0), 0),
                                          40, batch_size=8)[0])
    conv = SmallCNN(rngs=nnx.Rngs(0)).conv  # same init, untouched
    mean, var = np.zeros(4), np.ones(4)
    for rows in order:
        h = np.asarray(conv(data.to_float(jnp.asarray(x[rows]))), np.float64)
        mean = 0.99 * mean + 0.01 * h.mean((0, 1, 2))
        var = 0.99 * var + 0.01 * h.var((0, 1, 2))
    assert_close(model.bn.mean[...], mean, np.float32)
    assert_close(model.bn.var[...], var, np.float32)


def test_train_mode_while_training_eval_mode_after():
    """Dropout 0.9 in training: the training loss (dropout on) exceeds the frozen model's eval loss."""
    x, y = blobs(64)
    model = SmallCNN(dropout=0.9, rngs=nnx.Rngs(0))
    hist = train.fit(model, (x, y), loss=CE, optimizer=optax.set_to_zero(), epochs=1, batch_size=16,
                     val_data=(x, y), verbose=False)
    assert model.drop.deterministic and model.bn.use_running_average  # left in eval mode
    assert hist["loss"][0] != hist["val_loss"][0]
    again = train.evaluate(model, (x, y), loss=CE)
    assert again == train.evaluate(model, (x, y), loss=CE)  # eval mode: no randomness


@pytest.mark.parametrize("n", [37, 40])
def test_evaluate_counts_every_example_once(n):
    x, y = blobs(n)
    model = SmallCNN(rngs=nnx.Rngs(1))
    model.eval()
    logits = model(data.to_float(jnp.asarray(x)))  # one batch of all n: the oracle
    got = train.evaluate(model, (x, y), loss=CE, batch_size=8)
    assert_close(got["loss"], ops.softmax_cross_entropy(logits, jnp.asarray(y)), np.float32)
    assert got["accuracy"] == pytest.approx(np.mean(np.argmax(np.asarray(logits), 1) == y), abs=1e-12)
    out = train.predict(model, x, batch_size=8)
    assert out.shape == (n, 3)
    assert_close(out, logits, np.float32)


def test_evaluate_reconstruction_losses():
    x, _ = blobs(21)
    xf = np.asarray(data.to_float(jnp.asarray(x)))
    model = TinyAE(rngs=nnx.Rngs(0))
    pred = model(jnp.asarray(xf))
    got = train.evaluate(model, (x, x), loss="mse", metrics=["mae", "binary_crossentropy"], batch_size=4)
    assert_close(got["loss"], np.mean((np.asarray(pred, np.float64) - xf) ** 2), np.float32)
    assert_close(got["mae"], np.mean(np.abs(np.asarray(pred, np.float64) - xf)), np.float32)
    p = np.clip(np.asarray(pred, np.float64), 1e-7, 1 - 1e-7)
    assert_close(got["binary_crossentropy"], -np.mean(xf * np.log(p) + (1 - xf) * np.log(1 - p)), np.float32)


def test_denoising_autoencoder_learns_noisy_to_clean():
    x, _ = blobs(128)
    clean = data.to_float(jnp.asarray(x))
    noisy = data.salt_and_pepper(jax.random.key(0), clean, p_high=0.1, p_low=0.1)
    model = TinyAE(rngs=nnx.Rngs(0))
    before = train.evaluate(model, (noisy, clean), loss="mse")["loss"]
    hist = train.fit(model, (noisy, clean), loss="binary_crossentropy", metrics=["mse"],
                     optimizer={"name": "adam", "learning_rate": 0.01}, epochs=5, batch_size=16, verbose=False)
    assert hist["loss"][-1] < 0.8 * hist["loss"][0]
    assert train.evaluate(model, (noisy, clean), loss="mse")["loss"] < 0.5 * before


def test_augment_gets_a_fresh_key_per_step():
    x, _ = blobs(64)
    seen = []

    def augment(key, xb):
        seen.append(key)  # traced once; the key differs per step at run time
        return data.salt_and_pepper(key, xb, p_high=0.2, p_low=0.2)

    kw = dict(loss="mse", optimizer="adam", epochs=1, batch_size=16, verbose=False)
    h_aug = train.fit(TinyAE(rngs=nnx.Rngs(0)), (x, x), augment=augment, **kw)
    h_plain = train.fit(TinyAE(rngs=nnx.Rngs(0)), (x, x), **kw)
    assert seen and h_aug["loss"] != h_plain["loss"]


def test_nan_guard_names_epoch_and_step(tmp_path):
    x, y = blobs(48)
    steps = 48 // 8
    lr = lambda count: jnp.where(count < steps + 2, 0.1, 1e38).astype(jnp.float32)  # diverge in epoch 2
    model = Softmax(64, 3, rngs=nnx.Rngs(0))
    with pytest.raises(train.NonFiniteLossError, match=r"at epoch 2, step \d+ of 6") as err:
        train.fit(model, (x, y), loss=CE, optimizer=optax.sgd(lr), epochs=4, batch_size=8,
                  checkpoint_dir=tmp_path, verbose=False)
    e = err.value
    assert e.epoch == 2 and 3 <= e.step <= 6
    assert e.checkpoint == str(tmp_path / "1") and len(e.history) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["1"]
    assert all(np.isfinite(a).all() for a in jax.tree.leaves(nnx.state(model, nnx.Param)))


def test_history_save_load_plot(tmp_path):
    _, h = _small_fit(epochs=2)
    h.save(tmp_path / "h.json")
    back = train.History.load(tmp_path / "h.json")
    assert back.records == h.records and back.config == h.config
    assert json.loads((tmp_path / "h.json").read_text())["records"][1]["epoch"] == 2
    h.plot(tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError, match="no 'val_mse' recorded"):
        h["val_mse"]


def test_progress_bar_only_on_a_terminal(capsys, monkeypatch):
    x, y = blobs(32)
    kw = dict(loss=CE, optimizer="sgd", epochs=1, batch_size=8)
    train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (x, y), verbose=True, **kw)
    assert capsys.readouterr().err == ""  # captured stderr is not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (x, y), verbose=False, **kw)
    assert capsys.readouterr().err == ""
    train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (x, y), verbose=True, **kw)
    assert "loss=" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(train_data=[1, 2, 3]), TypeError,
         r"train_data must be a cnnlab.data.Dataset or a pair .* got list of length 3"),
        (dict(train_data=(np.zeros((4, 8, 8, 1), np.uint8), np.zeros((5,), np.int32))), ValueError,
         r"share their leading dimension N; got inputs \(4, 8, 8, 1\), targets \(5,\)"),
        (dict(batch_size=100), ValueError, r"batch_size 100 exceeds the 32 training examples"),
        (dict(loss="hinge"), ValueError, r"unknown loss 'hinge'; known: \["),
        (dict(metrics=["f1"]), ValueError, r"unknown metric\(s\) \['f1'\]"),
        (dict(epochs=0), ValueError, r"epochs must be a positive int; got 0"),
        (dict(resume=True), ValueError, r"resume=True needs checkpoint_dir"),
        (dict(optimizer=3), TypeError, r"optimizer must be a name .* got int"),
    ],
)
def test_fit_errors(kwargs, exc, match):
    x, y = blobs(32)
    args = dict(train_data=(x, y), loss=CE, optimizer="sgd", epochs=1, batch_size=8, verbose=False)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), **args)


def test_accepts_a_dataset():
    x, y = blobs(32)
    ds = data.Dataset(x, y, ("a", "b", "c"), source="test")
    model = Softmax(64, 3, rngs=nnx.Rngs(0))
    h = train.fit(model, ds, loss=CE, optimizer="sgd", epochs=1, batch_size=8, val_data=ds, verbose=False)
    assert h["val_loss"][0] == pytest.approx(train.evaluate(model, ds, loss=CE)["loss"], rel=1e-6)


def test_fit_many_matches_sequential_runs():
    x, y = blobs(64)
    kw = dict(loss=CE, optimizer="adam", epochs=2, batch_size=16, val_data=(x, y))
    models, hists = train.fit_many(lambda rngs: SmallCNN(rngs=rngs), [0, 3], (x, y), **kw)
    for seed, model, hist in zip([0, 3], models, hists):
        alone = SmallCNN(rngs=nnx.Rngs(seed))
        h = train.fit(alone, (x, y), seed=seed, verbose=False, **kw)
        for a, b in zip(hist.curves(), h.curves()):
            for k in a:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-4, err_msg=f"seed {seed} {k}")
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
                     nnx.state(model, nnx.Param), nnx.state(alone, nnx.Param))
    assert hists[0].curves() != hists[1].curves()


def test_bfloat16_compute_float32_parameters():
    """bfloat16 passes follow the float32 run to bfloat16 accuracy; parameters and stats stay float32."""
    x, y = blobs(64)
    kw = dict(loss=CE, optimizer={"name": "sgd", "learning_rate": 0.05}, epochs=2, batch_size=16,
              val_data=(x, y), verbose=False)
    m32 = SmallCNN(dropout=0.0, rngs=nnx.Rngs(0))
    h32 = train.fit(m32, (x, y), **kw)
    m16 = SmallCNN(dropout=0.0, rngs=nnx.Rngs(0))
    # flax's nnx.BatchNorm combines a bfloat16 input with its float32 statistics, which is
    # the point of keeping them float32, but strict promotion (conftest) forbids the mix.
    with jax.numpy_dtype_promotion("standard"):
        h16 = train.fit(m16, (x, y), compute_dtype=jnp.bfloat16, **kw)
    assert {a.dtype for a in jax.tree.leaves(nnx.state(m16, nnx.Param))} == {np.dtype(np.float32)}
    assert m16.bn.mean[...].dtype == np.float32
    assert h16.curves() != h32.curves()  # it did compute in bfloat16
    np.testing.assert_allclose(h16["loss"], h32["loss"], rtol=3e-2)
    np.testing.assert_allclose(h16["val_loss"], h32["val_loss"], rtol=3e-2)
    with pytest.raises(TypeError, match=r"compute_dtype must be a floating dtype .* got <class 'jax.numpy.int32'>"):
        train.fit(m16, (x, y), compute_dtype=jnp.int32, **kw)
