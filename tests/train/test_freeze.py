"""`fit(..., trainable=)`: frozen parameters stay bit for bit, get no optimizer state, and the
trained ones learn exactly as a model of only them would on the frozen part's outputs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from cnnlab import nn, train

FROZEN_ENCODER = nnx.Not(nnx.PathContains("encoder"))


class _Head(nnx.Module):
    def __init__(self, rngs):
        self.head = nn.Conv2D(4, 1, 1, activation="sigmoid", rngs=rngs)

    def __call__(self, x):
        return self.head(x)


class _Net(nnx.Module):
    """An encoder (two convolutions) and a 1x1 sigmoid head, as a segmenter is built."""

    def __init__(self, rngs):
        self.encoder = nn.Sequential(
            nn.Conv2D(1, 4, 3, padding="same", activation="relu", rngs=rngs),
            nn.Conv2D(4, 4, 3, padding="same", activation="relu", rngs=rngs),
        )
        self.top = _Head(rngs)

    def __call__(self, x):
        return self.top(self.encoder(x))


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, 8, 8, 1)).astype(np.float32)
    y = (x > 0.5).astype(np.float32)
    return x, y


def _params(module) -> dict:
    return {"/".join(map(str, p)): np.asarray(v[...]) for p, v in nnx.to_flat_state(nnx.state(module, nnx.Param))}


def _fit(model, data, **kw):
    kw = dict(loss="binary_crossentropy", optimizer="adam", epochs=3, batch_size=16, verbose=False) | kw
    return train.fit(model, data, **kw)


def test_frozen_parameters_stay_bit_identical_and_the_rest_train():
    model = _Net(nnx.Rngs(0))
    before = _params(model)
    history = _fit(model, _data(), trainable=FROZEN_ENCODER)
    after = _params(model)
    for k, v in before.items():
        if k.startswith("encoder"):
            assert np.array_equal(after[k], v), k
            assert after[k].tobytes() == v.tobytes(), k  # bit for bit, signed zeros included
        else:
            assert not np.array_equal(after[k], v), f"{k} did not train"
    assert history["loss"][-1] < history["loss"][0]
    cfg = history.config
    assert cfg["trainable"] == repr(FROZEN_ENCODER) == "Not(PathContains('encoder', exact=True))"
    assert cfg["trainable_params"] == 4 + 1  # the head: a 1x1x4 kernel and one bias
    assert cfg["frozen_params"] == (9 * 4 + 4) + (9 * 16 + 4)


def test_frozen_parameters_get_no_optimizer_state():
    """The optimizer's ``init`` sees only the trained parameters; its state's leaves are Adam's
    count and one first and one second moment of each trained array, nothing of the frozen ones."""
    seen = {}
    adam = optax.adam(1e-3)

    def init(params):
        state = adam.init(params)
        seen["params"] = jax.tree_util.tree_flatten_with_path(params)[0]
        seen["state"] = jax.tree.leaves(state)
        return state

    model = _Net(nnx.Rngs(0))
    _fit(model, _data(), optimizer=optax.GradientTransformation(init, adam.update), trainable=FROZEN_ENCODER)
    paths = ["/".join(str(getattr(k, "key", k)) for k in p) for p, _ in seen["params"]]
    assert all(p.startswith("top/") for p in paths) and len(paths) == 2, paths
    shapes = sorted(tuple(a.shape) for a in seen["state"])
    # count (a scalar), and mu and nu for the (1, 1, 4, 1) kernel and the (1,) bias
    assert shapes == sorted([(), (1,), (1,), (1, 1, 4, 1), (1, 1, 4, 1)]), shapes


def test_the_trained_part_learns_as_a_model_of_only_it_would():
    """Oracle: the head alone, trained on the frozen encoder's outputs with the same seed
    (same shuffling), ends with the same weights as the head trained behind the frozen encoder."""
    x, y = _data()
    model = _Net(nnx.Rngs(0))
    feats = np.asarray(model.encoder(jnp.asarray(x)))
    alone = _Head(nnx.Rngs(0))
    alone.head.kernel[...] = model.top.head.kernel[...]
    alone.head.bias[...] = model.top.head.bias[...]
    _fit(model, (x, y), trainable=FROZEN_ENCODER, seed=3)
    _fit(alone, (feats, y), seed=3)
    np.testing.assert_allclose(model.top.head.kernel[...], alone.head.kernel[...], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.top.head.bias[...], alone.head.bias[...], rtol=1e-5, atol=1e-6)


def test_unfreezing_continues_training():
    model, data = _Net(nnx.Rngs(0)), _data()
    frozen = _fit(model, data, trainable=FROZEN_ENCODER)
    before = _params(model)
    tuned = _fit(model, data)  # everything trains: the encoder moves too, from where phase 1 left it
    after = _params(model)
    assert all(not np.array_equal(after[k], v) for k, v in before.items())
    assert tuned["loss"][-1] < frozen["loss"][-1]
    assert "trainable" not in tuned.config


def test_a_filter_of_only_parameters_by_name_freezes_one_layer():
    """A plain callable ``(path, variable) -> bool`` is a filter too: here only kernels train."""
    model = _Net(nnx.Rngs(0))
    before = _params(model)
    _fit(model, _data(), trainable=lambda path, v: path[-1] == "kernel", epochs=1)
    after = _params(model)
    for k, v in before.items():
        assert np.array_equal(after[k], v) == k.endswith("bias"), k


@pytest.mark.parametrize(
    ("trainable", "error", "words"),
    [
        (3.5, TypeError, "trainable must be a Variable type"),
        ((nnx.Param, 7), TypeError, "trainable[1] must be"),
        ("decoder", ValueError, "selects none of _Net's 6 parameters"),
        (nnx.BatchStat, ValueError, "selects none"),
    ],
)
def test_bad_filters_are_clear_errors(trainable, error, words):
    model = _Net(nnx.Rngs(0))
    with pytest.raises(error) as e:
        _fit(model, _data(), trainable=trainable)
    assert words in str(e.value) and "fit:" in str(e.value)


def test_a_failing_filter_is_named():
    def broken(path, v):
        raise RuntimeError("boom")

    with pytest.raises(ValueError, match=r"trainable=.*broken.* failed on the model's parameters: RuntimeError"):
        _fit(_Net(nnx.Rngs(0)), _data(), trainable=broken)


def test_a_frozen_run_resumes_bit_for_bit_and_refuses_another_filter(tmp_path):
    data, ckpt = _data(), tmp_path / "ckpt"
    whole = _Net(nnx.Rngs(0))
    _fit(whole, data, epochs=2, trainable=FROZEN_ENCODER)
    part = _Net(nnx.Rngs(0))
    _fit(part, data, epochs=1, trainable=FROZEN_ENCODER, checkpoint_dir=ckpt)
    resumed = _Net(nnx.Rngs(5))  # everything must come from the checkpoint
    _fit(resumed, data, epochs=2, trainable=FROZEN_ENCODER, checkpoint_dir=ckpt, resume=True)
    for k, v in _params(whole).items():
        assert _params(resumed)[k].tobytes() == v.tobytes(), k
    from cnnlab.train import CheckpointError

    with pytest.raises(CheckpointError, match="its trainable is .*encoder.* but this run's is None"):
        _fit(_Net(nnx.Rngs(0)), data, epochs=3, checkpoint_dir=ckpt, resume=True)
