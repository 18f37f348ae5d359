"""fit_many's learning-rate sweeps: each member is the sequential `fit` at its own rate; a
diverging member is frozen or named; sweeps resume exactly; a repeated sweep is not recompiled."""

import math

import jax
import numpy as np
import pytest
from flax import nnx

from cnnlab import train
from cnnlab.train import trainers
from tests.train._models import SmallCNN, Softmax, blobs

CE = "softmax_cross_entropy"


def _data():
    x, y = blobs(64)
    return (x, y), (x[:20], y[:20])


def _assert_same_run(model, hist, alone, h, what):
    for a, b in zip(hist.curves(), h.curves()):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, err_msg=f"{what} {k}")
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                 nnx.state(model, nnx.Param), nnx.state(alone, nnx.Param))


@pytest.mark.parametrize("optimizer", ["adam", {"name": "sgd", "momentum": 0.9}, {"name": "rmsprop", "decay": 0.01}],
                         ids=["adam", "sgd-momentum", "rmsprop-decay"])  # fmt: skip
def test_each_member_is_fit_at_its_rate(optimizer):
    train_data, val = _data()
    kw = dict(loss=CE, epochs=2, batch_size=16, val_data=val)
    rates, seeds = [3e-3, 3e-2, 3e-3], [0, 0, 5]
    models, hists = train.fit_many(lambda rngs: SmallCNN(rngs=rngs), seeds, train_data, optimizer=optimizer,
                                   learning_rates=rates, **kw)  # fmt: skip
    config = {"name": optimizer} if isinstance(optimizer, str) else dict(optimizer)
    for seed, rate, model, hist in zip(seeds, rates, models, hists):
        alone = SmallCNN(rngs=nnx.Rngs(seed))
        h = train.fit(alone, train_data, seed=seed, verbose=False, optimizer={**config, "learning_rate": rate}, **kw)
        _assert_same_run(model, hist, alone, h, f"seed {seed} rate {rate}")
        assert hist.config["optimizer"] == h.config["optimizer"]  # the member's own rate is recorded
        assert hist.config["seed"] == seed
    # Same seed, different rates: different runs; same rate, different seeds: different runs.
    assert hists[0]["loss"] != hists[1]["loss"] and hists[0]["loss"] != hists[2]["loss"]


def test_a_diverging_member_is_frozen_and_the_others_train_on():
    train_data, val = _data()
    kw = dict(loss=CE, epochs=3, batch_size=16, val_data=val)
    sgd = {"name": "sgd"}
    models, hists = train.fit_many(lambda rngs: Softmax(64, 3, rngs=rngs), [1, 1], train_data, optimizer=sgd,
                                   learning_rates=[0.1, 1e38], on_nonfinite="freeze", **kw)  # fmt: skip
    alone = Softmax(64, 3, rngs=nnx.Rngs(1))
    h = train.fit(alone, train_data, seed=1, verbose=False, optimizer={**sgd, "learning_rate": 0.1}, **kw)
    _assert_same_run(models[0], hists[0], alone, h, "the stable member")
    assert "diverged_at" not in hists[0].config

    stopped = hists[1].config["diverged_at"]
    assert stopped["epoch"] == 1 and 1 <= stopped["step"] <= 4
    # A softmax regression (no batch norm to undo the scale) overflows within a few steps at 1e38;
    # what it keeps is its last good state.
    assert all(math.isnan(v) for v in hists[1]["loss"]) and all(math.isnan(v) for v in hists[1]["accuracy"])
    # Frozen: the same model evaluated every epoch (its validation loss may itself overflow).
    np.testing.assert_array_equal(hists[1]["val_loss"], [hists[1]["val_loss"][0]] * 3)
    # The frozen member is where `fit` alone stops at that rate: its last good state.
    stopped_alone = Softmax(64, 3, rngs=nnx.Rngs(1))
    with pytest.raises(train.NonFiniteLossError, match=f"at epoch 1, step {stopped['step']} of 4"):
        train.fit(stopped_alone, train_data, seed=1, verbose=False, optimizer={**sgd, "learning_rate": 1e38}, **kw)
    jax.tree.map(np.testing.assert_array_equal, nnx.state(models[1], nnx.Param),
                 nnx.state(stopped_alone, nnx.Param))
    assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(nnx.state(models[1], nnx.Param)))

    # The step it stopped at is the first non-finite loss of the same run under "raise".
    with pytest.raises(train.NonFiniteLossError,
                       match=rf"seed 1 \(learning_rate 1e\+38\) became .* at epoch 1, step {stopped['step']} of 4"):
        train.fit_many(lambda rngs: Softmax(64, 3, rngs=rngs), [1, 1], train_data, optimizer=sgd,
                       learning_rates=[0.1, 1e38], **kw)  # fmt: skip


def test_an_interrupted_sweep_resumes_exactly(tmp_path):
    train_data, val = _data()

    def sweep(epochs, rates=(1e-3, 1e-2, 1e38), **kw):
        return train.fit_many(lambda rngs: Softmax(64, 3, rngs=rngs), [0, 0, 0], train_data, loss=CE,
                              optimizer={"name": "sgd", "momentum": 0.9}, learning_rates=list(rates), epochs=epochs,
                              batch_size=16, val_data=val, on_nonfinite="freeze", **kw)  # fmt: skip

    full_models, full_h = sweep(3)
    sweep(1, checkpoint_dir=tmp_path)
    models, hists = sweep(3, checkpoint_dir=tmp_path, resume=True)
    for a, b in zip(models, full_models):
        jax.tree.map(np.testing.assert_array_equal, nnx.state(a, nnx.Param), nnx.state(b, nnx.Param))
    for h, g in zip(hists, full_h):
        np.testing.assert_array_equal(h["loss"], g["loss"])  # NaN where frozen, in both
        assert h.config == g.config
    assert hists[2].config["diverged_at"]["epoch"] == 1  # stayed frozen across the resume
    with pytest.raises(train.CheckpointError,
                       match=r"its learning_rates is \[0.001, 0.01, 1e\+38\] but this run's is "
                             r"\[0.001, 0.02, 1e\+38\]"):  # fmt: skip
        sweep(2, rates=(1e-3, 2e-2, 1e38), checkpoint_dir=tmp_path, resume=True)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(learning_rates=[1e-3]), ValueError, r"one rate per seed \(2 seeds\); got 1 rates.*seeds=\[0\] \* 1"),
        (dict(learning_rates=[1e-3, 0.0]), ValueError, r"positive finite numbers; got 0.0 in \[0.001, 0.0\]"),
        (dict(learning_rates=[1e-3, math.inf]), ValueError, r"positive finite numbers; got inf"),
        (dict(learning_rates=[1e-3, True]), ValueError, r"positive finite numbers; got True"),
        (dict(learning_rates=[1e-3, 1e-2], optimizer={"name": "adam", "learning_rate": 0.1}), ValueError,
         r"sets learning_rate=0.1 and learning_rates is given too"),
        (dict(learning_rates=[1e-3, 1e-2], optimizer=__import__("optax").sgd(0.1)), TypeError,
         r"learning_rates needs the optimizer as a name or config dict .* got GradientTransformationExtraArgs"),
        (dict(learning_rates=[1e-3, 1e-2], optimizer={"name": "adam", "beta": 1}), ValueError,
         r"adam takes no argument\(s\) \['beta'\]"),
        (dict(on_nonfinite="skip"), ValueError, r"on_nonfinite must be 'raise' or 'freeze'; got 'skip'"),
    ],
)
def test_bad_sweep_arguments_are_named(kwargs, exc, match):
    train_data, _ = _data()
    args = dict(loss=CE, optimizer="adam", epochs=1, batch_size=16) | kwargs
    with pytest.raises(exc, match=match):
        train.fit_many(lambda rngs: SmallCNN(rngs=rngs), [0, 1], train_data, **args)


def test_a_repeated_sweep_reuses_the_compiled_epoch():
    train_data, val = _data()
    kw = dict(loss=CE, optimizer="adam", epochs=1, batch_size=16, val_data=val)
    train.fit_many(lambda rngs: SmallCNN(rngs=rngs), [0, 1], train_data, **kw)
    sizes = trainers._many_epoch._cache_size(), trainers._many_eval._cache_size()
    # Other seeds and other rates: the same program, only different values in its carry.
    train.fit_many(lambda rngs: SmallCNN(rngs=rngs), [2, 3], train_data, **kw)
    assert (trainers._many_epoch._cache_size(), trainers._many_eval._cache_size()) == sizes
    train.fit_many(lambda rngs: SmallCNN(rngs=rngs), [2, 3], train_data, learning_rates=[1e-3, 1e-2], **kw)
    sizes = trainers._many_epoch._cache_size(), trainers._many_eval._cache_size()
    train.fit_many(lambda rngs: SmallCNN(rngs=rngs), [0, 0], train_data, learning_rates=[1e-4, 1e-1], **kw)
    assert (trainers._many_epoch._cache_size(), trainers._many_eval._cache_size()) == sizes


def test_rate_in_state_optimizer_arguments_are_checked():
    from cnnlab.train import optimizers

    with pytest.raises(ValueError, match=r"learning rate is set in the state \(set_learning_rate\), not given here"):
        optimizers.make_rate_in_state_optimizer("adam", learning_rate=0.1)
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'"):
        optimizers.make_rate_in_state_optimizer("adamw")
    plain = optimizers.make_optimizer("adam").init({"w": np.zeros(2, np.float32)})
    with pytest.raises(TypeError, match=r"state must come from make_rate_in_state_optimizer; got tuple"):
        optimizers.set_learning_rate(plain, 0.1)
