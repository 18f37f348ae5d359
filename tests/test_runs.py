"""Saved runs: models kept with their spec, reloaded bit for bit, and run directories that cannot mislead."""

import json
import logging

import jax
import numpy as np
import pytest
from flax import nnx

from cnnlab import models, runs
from cnnlab.train import CheckpointError


def _leaves(model):
    """The model's arrays; random keys as their raw data."""
    data = lambda a: jax.random.key_data(a) if jax.numpy.issubdtype(a.dtype, jax.dtypes.prng_key) else a
    return [data(a) for a in jax.tree.leaves(nnx.to_pure_dict(nnx.state(model)))]


def _perturbed(model, seed=0):
    """The model with every array moved off its initial value, so reloading cannot pass by re-initialising."""
    state = nnx.state(model)
    rng = np.random.default_rng(seed)
    move = lambda a: a + rng.normal(size=a.shape).astype(a.dtype) if jax.numpy.issubdtype(a.dtype, np.floating) else a
    nnx.update(model, jax.tree.map(move, state))
    return model


def _run_dir(tmp_path, kept: dict, **extra) -> dict:
    listed = runs.keep_models(tmp_path, kept)
    record = {"experiment": "x", "config": {"epochs": 1}, "metrics": {"m": 0.5}, "models": listed, **extra}
    (tmp_path / "metrics.json").write_text(json.dumps(record))
    return listed


def test_save_then_load_gives_the_same_arrays_and_architecture(tmp_path):
    model = _perturbed(models.LeNet5Improved(num_classes=7, rngs=nnx.Rngs(0)))  # batch stats too
    spec = runs.save_model(tmp_path / "m", model)
    assert spec == models.spec(model)
    back = runs.load_model(tmp_path / "m")
    assert type(back) is models.LeNet5Improved and models.spec(back) == spec
    for a, b in zip(_leaves(model), _leaves(back), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(1).random((3, 28, 28, 1), np.float32)
    model.eval(), back.eval()
    np.testing.assert_array_equal(model(x), back(x))


def test_a_saved_model_is_never_overwritten(tmp_path):
    runs.save_model(tmp_path / "m", models.MnistCNN(rngs=nnx.Rngs(0)))
    with pytest.raises(CheckpointError, match="never overwritten"):
        runs.save_model(tmp_path / "m", models.MnistCNN(rngs=nnx.Rngs(1)))


def test_load_returns_models_config_and_metrics(tmp_path):
    a = _perturbed(models.StridedAutoencoder(rngs=nnx.Rngs(0)))
    b = _perturbed(models.MnistCNN(rngs=nnx.Rngs(0)), seed=1)
    listed = _run_dir(tmp_path, {"ae": a, "sweep/seed=3": b})
    assert listed["sweep/seed=3"] == {
        "path": "models/sweep/seed=3",
        "class": "MnistCNN",
        "args": models.spec(b)["args"],
    }
    run = runs.load(tmp_path)
    assert (run.experiment, run.config, run.metrics) == ("x", {"epochs": 1}, {"m": 0.5})
    assert sorted(run.models) == ["ae", "sweep/seed=3"]
    np.testing.assert_array_equal(_leaves(run.model("ae"))[0], _leaves(a)[0])
    with pytest.raises(runs.RunError, match="pick a model by tag; it holds ae, sweep/seed=3"):
        run.model()


def test_keeping_again_replaces_the_earlier_models_whole(tmp_path):
    _run_dir(tmp_path, {"old": models.MnistCNN(rngs=nnx.Rngs(0))})
    _run_dir(tmp_path, {"new": models.StridedAutoencoder(rngs=nnx.Rngs(0))})
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["new"]
    assert not list(tmp_path.glob(".models-*"))


def test_a_model_outside_the_zoo_is_said_not_kept(tmp_path):
    from tests.train._models import Softmax

    said = []
    listed = runs.keep_models(tmp_path, {"soft": Softmax(4, 2, rngs=nnx.Rngs(0))}, log=said.append)
    assert listed == {} and len(said) == 1 and said[0].startswith("model soft not kept: spec: model must be one of")


@pytest.mark.parametrize(
    "text,words",
    [
        (None, r"not a finished run \(no metrics.json\)"),
        ("{not json", "cannot be read as JSON"),
        ("[1, 2]", "not a cnnlab run record"),
        ('{"models": {"m": {"path": "../../etc"}}}', "lies outside the run directory"),
        ('{"models": {"m": {"path": "/etc"}}}', "lies outside the run directory"),
        ('{"models": {"m": {"path": "models/none"}}}', "no saved model there"),
    ],
)
def test_a_bad_run_directory_is_one_clear_error(tmp_path, text, words):
    if text is not None:
        (tmp_path / "metrics.json").write_text(text)
    with pytest.raises(runs.RunError, match=words):
        runs.load(tmp_path)
    with pytest.raises(runs.RunError, match="no such run directory"):
        runs.load(tmp_path / "absent")


def test_a_spec_naming_code_is_refused_and_nothing_is_imported(tmp_path):
    runs.save_model(tmp_path / "m", models.MnistCNN(rngs=nnx.Rngs(0)))
    meta = next((tmp_path / "m").glob("0/meta/*"))
    meta.write_text(meta.read_text().replace('"MnistCNN"', '"os.system"'))
    with pytest.raises(runs.RunError, match="unknown model class 'os.system'"):
        runs.load_model(tmp_path / "m")


def test_damaged_arrays_are_found_by_their_checksums(tmp_path, caplog):
    runs.save_model(tmp_path / "m", models.MnistCNN(rngs=nnx.Rngs(0)))
    sums = next((tmp_path / "m").glob("0/checksums/*"))
    recorded = json.loads(sums.read_text())
    sums.write_text(json.dumps({k: "0" * 64 for k in recorded}))
    with caplog.at_level(logging.WARNING), pytest.raises(CheckpointError, match="corrupted"):
        runs.load_model(tmp_path / "m")
