"""`cnnlab latent RUN COMMAND` on run directories built here: untrained models kept with
`cnnlab.runs.keep_models` beside a ``metrics.json`` (no training, so the file stays fast).

Each command's arrays (taken from the function it calls) are checked against the models' own
methods (``model.encode``/``model.decode``, not the pure functions `cnnlab.latent` runs) and
NumPy; the errors are one line on stderr with status 2.
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnlab import cli, data, latent, models, runs
from cnnlab.latent import commands
from cnnlab.models.generators import class_noise

CLASSES = (1, 5, 6)
TOL = dict(rtol=1e-5, atol=1e-5)


def _run_dir(directory, experiment, kept, config):
    directory.mkdir()
    listed = runs.keep_models(directory, kept, log=lambda *_: None)
    record = {"experiment": experiment, "config": config, "data": {"n_train": 4000, "n_test": 1000}, "models": listed}
    (directory / "metrics.json").write_text(json.dumps(record))
    return str(directory)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    mnist = {"dataset": "mnist"}
    return {
        "latent": _run_dir(root / "latent", "latent-2d", {"model": models.StridedAutoencoder(rngs=nnx.Rngs(0))},
                           {**mnist, "classes": list(CLASSES)}),
        "cnn": _run_dir(root / "cnn", "mnist-cnn", {"model": models.MnistCNN(rngs=nnx.Rngs(0))}, mnist),
        "noise": _run_dir(root / "noise", "noise-to-digit", {
            "phase1": models.NoiseToDigit(8, rngs=nnx.Rngs(1)), "phase2": models.NoiseToDigit(8, rngs=nnx.Rngs(2)),
        }, mnist),
    }  # fmt: skip


@pytest.fixture(scope="module")
def test_digits():
    ds = data.load("mnist", "test")
    keep = np.flatnonzero(np.isin(ds.labels, CLASSES))
    return ds.images[keep], np.asarray(ds.labels)[keep], keep


def _spy(monkeypatch, name):
    """Replaces ``commands.<name>`` by a wrapper that keeps what it returned."""
    seen = []
    real = getattr(commands, name)
    monkeypatch.setattr(commands, name, lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    return seen


def _main(capsys, *argv):
    rc = cli.main(["latent", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def _encode(model, images):  # the independent path: the module's own method
    return np.asarray(model.encode(jnp.asarray(images, jnp.float32) / 255))


@pytest.mark.parametrize("path", ["lerp", "slerp"])
def test_interpolate_is_encode_path_decode(saved, test_digits, capsys, monkeypatch, path):
    seen = _spy(monkeypatch, "interpolation")
    rc, out, _ = _main(capsys, saved["latent"], "interpolate", "--from", 3, "--to", 250, "--path", path, "--force")
    target = f"{saved['latent']}/latent/interpolate_3_250.png"
    assert (rc, out) == (0, f"wrote {target}\n")
    assert Path(target).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = seen[0]
    images = test_digits[0]
    x = images[[3, 250]].astype(np.float32) / 255
    t = np.linspace(0, 1, 9, dtype=np.float32)[:, None, None, None]
    np.testing.assert_allclose(rows["pixel"], (1 - t) * x[0] + t * x[1], **TOL)
    model = runs.load(saved["latent"]).model()
    z = _encode(model, images[[3, 250]])
    walk = {"lerp": latent.lerp, "slerp": latent.slerp}[path](z[0], z[1], 9)
    np.testing.assert_allclose(rows[f"latent ({path})"], np.asarray(model.decode(walk)), **TOL)


def test_encode_writes_codes_labels_indices_and_refuses_to_overwrite(saved, test_digits, capsys, tmp_path):
    out = tmp_path / "codes"  # no suffix added: the line says where the file is
    rc, line, _ = _main(capsys, saved["latent"], "encode", "--out", out)
    assert (rc, line) == (0, f"wrote {out}\n")
    with np.load(out, allow_pickle=False) as f:
        got = dict(f)
    images, labels, indices = test_digits
    model = runs.load(saved["latent"]).model()
    np.testing.assert_allclose(got["codes"], _encode(model, images), **TOL)
    np.testing.assert_array_equal(got["labels"], labels)
    np.testing.assert_array_equal(got["indices"], indices)
    rc, line, err = _main(capsys, saved["latent"], "encode", "--out", out)
    assert (rc, line, err) == (2, "", f"cnnlab latent: error: {out} exists; pass --force to replace it\n")
    assert _main(capsys, saved["latent"], "encode", "--out", out, "--force")[0] == 0


def test_grid_spans_the_codes_and_decodes_each_point(saved, test_digits, capsys, monkeypatch):
    seen = _spy(monkeypatch, "grid")
    assert _main(capsys, saved["latent"], "grid", "--n", 3, "--force")[0] == 0
    g = seen[0]
    model = runs.load(saved["latent"]).model()
    z = _encode(model, test_digits[0])
    lo, hi = np.percentile(z, 1, axis=0), np.percentile(z, 99, axis=0)
    lo, hi = lo - 0.08 * (hi - lo), hi + 0.08 * (hi - lo)
    assert g["pca"] is None
    np.testing.assert_allclose(g["points"], z, **TOL)
    np.testing.assert_allclose(g["coords"][-1, 0], lo, rtol=1e-4, atol=1e-4)  # bottom left
    np.testing.assert_allclose(g["coords"][0, -1], hi, rtol=1e-4, atol=1e-4)  # top right
    decoded = np.asarray(model.decode(jnp.asarray(g["coords"].reshape(9, 2))))
    np.testing.assert_allclose(g["images"].reshape(decoded.shape), decoded, **TOL)


class LinearAutoencoder(nnx.Module):
    """``x -> flatten(x) @ A``, ``z -> z @ B``: a 3-D code with answers in NumPy."""

    def __init__(self, a, b):
        self.a, self.b = nnx.Param(jnp.asarray(a)), nnx.Param(jnp.asarray(b))

    def encode(self, x):
        return x.reshape(x.shape[0], -1) @ self.a[...]

    def decode(self, z):
        return (z @ self.b[...]).reshape(z.shape[0], 2, 2, 1)


def test_grid_over_principal_components_for_higher_dimensional_codes():
    rng = np.random.default_rng(0)
    b = rng.normal(size=(3, 4)).astype(np.float32)
    z = (rng.normal(size=(400, 3)) * [3.0, 1.0, 0.1] @ np.linalg.qr(rng.normal(size=(3, 3)))[0]).astype(np.float32)
    g = commands.grid(LinearAutoencoder(np.zeros((4, 3), np.float32), b), z, 4)
    mean, pcs = g["pca"]
    w, v = np.linalg.eigh(np.cov(z.T.astype(np.float64)))
    np.testing.assert_allclose(np.abs(pcs @ v[:, ::-1][:, :2]), np.eye(2), atol=1e-6)  # the top two, up to sign
    np.testing.assert_allclose(g["points"], (z - z.mean(0)) @ pcs.T, rtol=1e-5, atol=1e-5)
    lo, hi = np.percentile(g["points"], 1, axis=0), np.percentile(g["points"], 99, axis=0)
    np.testing.assert_allclose(g["coords"][-1, 0], lo - 0.08 * (hi - lo))
    np.testing.assert_allclose(g["coords"][0, -1], hi + 0.08 * (hi - lo))
    expected = (mean + g["coords"].reshape(16, 2) @ pcs) @ b
    np.testing.assert_allclose(g["images"].reshape(16, 4), expected, rtol=1e-4, atol=1e-4)


def test_sample_draws_from_the_class_gaussian_of_the_test_codes(saved, test_digits, capsys, monkeypatch):
    seen = _spy(monkeypatch, "samples")
    rc, out, _ = _main(capsys, saved["latent"], "sample", "--digit", 5, "--temperature", 0.5, "--n", 9, "--force")
    assert (rc, out) == (0, f"wrote {saved['latent']}/latent/sample_5.png\n")
    s = seen[0]
    model = runs.load(saved["latent"]).model()
    fives = _encode(model, test_digits[0][test_digits[1] == 5])
    assert s["count"] == len(fives)
    np.testing.assert_allclose(s["mean"], fives.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(s["cov"], 0.25 * np.cov(fives.T), rtol=1e-3, atol=1e-4)
    zs = latent.sample_class(jax.random.key(0), s["mean"][None], s["cov"][None], jnp.zeros(9, jnp.int32))
    np.testing.assert_allclose(s["codes"], zs, **TOL)
    np.testing.assert_allclose(s["images"], np.asarray(model.decode(jnp.asarray(s["codes"]))), **TOL)


def test_sample_drives_the_noise_to_digit_generator_with_class_noise(saved, capsys, monkeypatch):
    seen = _spy(monkeypatch, "generated")
    assert _main(capsys, saved["noise"], "sample", "--model", "phase2", "--digit", 7, "--n", 9, "--force")[0] == 0
    model = runs.load(saved["noise"]).model("phase2")
    model.eval()
    noise = class_noise(jax.random.key(0), np.full(9, 7), 8)
    assert np.all((np.asarray(noise) >= 700) & (np.asarray(noise) < 800))
    np.testing.assert_allclose(seen[0]["images"], np.asarray(model.decode(noise)), **TOL)


@pytest.mark.parametrize(
    "run, argv, message",
    [
        ("missing", ["grid"], "no such run directory"),
        ("empty", ["grid"], "not a finished run (no metrics.json)"),
        ("cnn", ["interpolate", "--from", "0", "--to", "1"], "'model' of mnist-cnn is a MnistCNN, without an encoder"),
        ("latent", ["interpolate", "--from", "0", "--to", "300"], "--to 300 is out of range: the run has 300 test"),
        ("latent", ["sample", "--digit", "3"], "--digit 3 is not a class of this run; it has [1, 5, 6]"),
        ("latent", ["sample", "--digit", "5", "--model", "other"], "it holds model, not 'other'"),
        ("noise", ["sample", "--digit", "3"], "the run kept 2 models (phase1, phase2); pick one with --model TAG"),
        ("noise", ["sample", "--digit", "3", "--model", "phase1"], "'phase1' is a generator of unconditioned noise"),
        ("noise", ["grid", "--model", "phase2"], "is a NoiseToDigit, without an encoder"),
        ("latent", ["interpolate", "--from", "0", "--to", "1", "--space", "cubic"], "invalid choice: 'cubic'"),
        ("latent", ["interpolate", "--from", "0", "--to", "1", "--steps", "1"], "must be a whole number >= 2"),
        ("latent", ["sample", "--digit", "5", "--temperature", "-1"], "must be a finite number >= 0"),
    ],
)
def test_errors_are_one_line_with_status_2(saved, tmp_path, capsys, run, argv, message):
    (tmp_path / "empty").mkdir()
    directory = saved.get(run, str(tmp_path / run))
    rc, out, err = _main(capsys, directory, *argv)
    assert (rc, out) == (2, "")
    assert err.startswith("cnnlab latent: error: ") and err.count("\n") == 1 and message in err, err
