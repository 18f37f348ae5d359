"""fit_many runs fit's own epoch loop: early stopping through on_epoch, progress on a terminal,
and the divergence guard per member. The oracles are shorter runs of the same sweep and `fit`
alone on each member's seed and rate."""

import sys

import jax
import numpy as np
import pytest
from flax import nnx

from cnnlab import train
from tests.train._models import SmallCNN, blobs, differing_leaves

CE = "softmax_cross_entropy"
X, Y = blobs(64)
KW = dict(loss=CE, optimizer="adam", batch_size=16, val_data=(X[:20], Y[:20]), verbose=False)


def _make(rngs):
    return SmallCNN(rngs=rngs)


def _curves(histories):
    return [h.curves() for h in histories]


def test_on_epoch_sees_every_member_and_stopping_equals_a_shorter_sweep():
    seen = []

    def stop_at_two(records):
        seen.append([(r["epoch"], r["loss"]) for r in records])
        return records[0]["epoch"] == 2

    models, hists = train.fit_many(_make, [0, 3], (X, Y), epochs=5, on_epoch=stop_at_two, **KW)
    short_models, short = train.fit_many(_make, [0, 3], (X, Y), epochs=2, **KW)
    assert [[e for e, _ in epoch] for epoch in seen] == [[1, 1], [2, 2]]
    # The callback got each member's own record, the ones the histories keep.
    assert [[loss for _, loss in epoch] for epoch in seen] == [[h["loss"][e] for h in hists] for e in range(2)]
    assert _curves(hists) == _curves(short)
    for a, b in zip(models, short_models):
        assert differing_leaves(nnx.state(a), nnx.state(b)) == []


def test_a_stopped_sweep_checkpoints_its_last_epoch_and_resumes_to_the_full_sweep(tmp_path):
    kw = dict(KW, epochs=4, checkpoint_dir=tmp_path, checkpoint_every=3)
    train.fit_many(_make, [0, 3], (X, Y), on_epoch=lambda records: records[0]["epoch"] == 2, **kw)
    assert train.Checkpointer(tmp_path).epochs() == [2]
    resumed, hists = train.fit_many(_make, [0, 3], (X, Y), resume=True, **kw)
    full, want = train.fit_many(_make, [0, 3], (X, Y), epochs=4, **KW)
    assert _curves(hists) == _curves(want)
    for a, b in zip(resumed, full):
        assert differing_leaves(nnx.state(a), nnx.state(b)) == []


def test_only_a_boolean_true_stops_a_sweep():
    _, hists = train.fit_many(_make, [0], (X, Y), epochs=2, on_epoch=lambda records: 1, **KW)
    assert len(hists[0]) == 2


def test_progress_bar_on_a_terminal_shows_the_members_mean(capsys, monkeypatch):
    kw = dict(KW, epochs=1, verbose=True)
    train.fit_many(_make, [0, 1], (X, Y), **kw)
    assert capsys.readouterr().err == ""  # captured stderr is not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    train.fit_many(_make, [0, 1], (X, Y), **{**kw, "verbose": False})
    assert capsys.readouterr().err == ""
    _, hists = train.fit_many(_make, [0, 1], (X, Y), **kw)
    err = capsys.readouterr().err
    mean = np.mean([h["loss"][0] for h in hists])
    assert "fit_many" in err and "1/1" in err and f"mean_loss={mean:.4g}" in err


# Adam at 1e6 drives the loss of SmallCNN into the 1e11s within the first epoch, finite.
DIVERGING = {"name": "adam"}
RATES = [1e-3, 1e6]


def test_a_diverging_member_stops_the_sweep_naming_it():
    models = []

    def make(rngs):
        models.append(_make(rngs))
        return models[-1]

    with pytest.raises(train.DivergenceError, match=r"fit_many: the training loss of seed 1 \(learning_rate 1e\+06\) "
                                                    r"diverged at epoch 1: its mean .* over divergence_factor=100"):
        train.fit_many(make, [0, 1], (X, Y), **{**KW, "optimizer": DIVERGING, "epochs": 2, "learning_rates": RATES})
    # The models are back at the start of the epoch that diverged: their initialisation.
    for seed, m in zip([0, 1], models):
        assert differing_leaves(nnx.state(m, nnx.Param), nnx.state(_make(nnx.Rngs(seed)), nnx.Param)) == []


def test_a_diverging_member_is_frozen_at_its_epoch_start_and_the_other_is_fit_alone():
    kw = {**KW, "optimizer": DIVERGING, "epochs": 2}
    models, hists = train.fit_many(_make, [0, 1], (X, Y), learning_rates=RATES, on_nonfinite="freeze", **kw)
    assert hists[1].config["diverged_at"] == {"epoch": 1, "step": None}
    assert all(np.isnan(hists[1]["loss"]))
    # Frozen where it started: its initialisation, and its validation is that model's.
    start = _make(nnx.Rngs(1))
    assert differing_leaves(nnx.state(models[1], nnx.Param), nnx.state(start, nnx.Param)) == []
    before = train.evaluate(start, KW["val_data"], loss=CE)
    np.testing.assert_allclose(hists[1]["val_loss"], [before["loss"]] * 2, rtol=1e-6)
    # The stable member is exactly `fit` alone at its rate.
    alone = _make(nnx.Rngs(0))
    h = train.fit(alone, (X, Y), seed=0, **{**kw, "optimizer": {"name": "adam", "learning_rate": 1e-3}})
    for a, b in zip(hists[0].curves(), h.curves()):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                 nnx.state(models[0], nnx.Param), nnx.state(alone, nnx.Param))  # fmt: skip


def test_divergence_factor_none_turns_the_check_off_and_bad_factors_are_refused():
    kw = {**KW, "optimizer": DIVERGING, "epochs": 1, "learning_rates": RATES}
    _, hists = train.fit_many(_make, [0, 1], (X, Y), divergence_factor=None, **kw)
    assert hists[1]["loss"][0] > 100 * hists[0]["loss"][0]  # it diverged, and was let be
    with pytest.raises(ValueError, match=r"fit_many: divergence_factor must be a finite number > 1"):
        train.fit_many(_make, [0], (X, Y), divergence_factor=1, **{**KW, "epochs": 1})
