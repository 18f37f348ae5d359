"""The zoo registry: every zoo model records how it was built, and `build` makes the same architecture."""

import jax
import numpy as np
import pytest
from flax import nnx

from cnnlab import models
from cnnlab.models import registry


def _shapes(model) -> dict:
    return jax.tree.map(lambda a: (a.shape, str(a.dtype)), nnx.to_pure_dict(nnx.state(model)))


def test_every_model_class_of_cnnlab_models_is_in_the_zoo():
    public = {n for n in models.__all__ if isinstance(getattr(models, n), type)}
    bases = {"Autoencoder", "Classifier"}  # abstract: not built on their own
    assert set(models.ZOO) == public - bases


@pytest.mark.parametrize("name", sorted(registry.ZOO))
def test_spec_then_build_gives_the_same_architecture(name):
    cls = registry.ZOO[name]
    model = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0)))
    spec = models.spec(model)
    assert spec["class"] == name
    rebuilt = nnx.eval_shape(lambda: models.build(spec))
    assert _shapes(rebuilt) == _shapes(model)


def test_spec_records_the_arguments_given_and_the_defaults():
    model = models.CifarCNN(True, num_classes=7, rngs=nnx.Rngs(0))
    assert models.spec(model) == {"class": "CifarCNN", "args": {"batch_norm": True, "num_classes": 7, "in_channels": 3}}
    wide = models.WideLeNetAutoencoder(4, width=8, rngs=nnx.Rngs(0))
    assert models.spec(wide)["args"] == {"latent_dim": 4, "width": 8}
    assert _shapes(models.build(models.spec(wide))) == _shapes(wide)
    assert _shapes(wide) != _shapes(models.WideLeNetAutoencoder(rngs=nnx.Rngs(0)))  # the arguments matter


def test_build_uses_rngs_and_a_spec_survives_json():
    import json

    spec = json.loads(json.dumps(models.spec(models.LeNetAutoencoder(latent_dim=3, rngs=nnx.Rngs(0)))))
    a, b = models.build(spec, rngs=nnx.Rngs(1)), models.build(spec, rngs=nnx.Rngs(2))
    assert a.latent_dim == 3
    ka, kb = (jax.tree.leaves(nnx.state(m, nnx.Param)) for m in (a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(ka, kb))  # fresh initialisations, not stored weights


def test_a_model_still_jits_with_its_build_args():
    model = models.StridedAutoencoder(rngs=nnx.Rngs(0))
    out = nnx.jit(lambda m, x: m(x))(model, np.zeros((2, 28, 28, 1), np.float32))
    assert out.shape == (2, 28, 28, 1)


@pytest.mark.parametrize(
    "spec,words",
    [
        ({"class": "os.system", "args": {}}, "unknown model class 'os.system'"),
        ({"class": "MnistCNN", "args": {"bogus": 1}}, "MnistCNN cannot be built with"),
        ("MnistCNN", "model_spec must be"),
        ({"class": "MnistCNN", "args": [1]}, "model_spec must be"),
    ],
)
def test_build_refuses_what_is_not_a_zoo_model(spec, words):
    with pytest.raises(ValueError, match=words):
        models.build(spec)


def test_spec_refuses_a_model_outside_the_zoo_and_unsaveable_arguments():
    from tests.train._models import Softmax

    with pytest.raises(TypeError, match="zoo"):
        models.spec(Softmax(4, 2, rngs=nnx.Rngs(0)))
    model = models.DenoisingAutoencoder(output_activation=jax.nn.sigmoid, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="output_activation=.*cannot be saved"):
        models.spec(model)
