"""Data parallelism: 8 simulated CPU devices give the loss curve of 1, within float tolerance.

The device count is fixed when JAX starts, so the comparison runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent(
    """
    import json, jax
    from flax import nnx
    from cnnlab import train
    from tests.train._models import SmallCNN, blobs

    assert jax.device_count() == 8, jax.devices()
    x, y = blobs(64)
    out = {}
    for name, devices in (("one", None), ("eight", jax.devices())):
        model = SmallCNN(rngs=nnx.Rngs(0))
        h = train.fit(model, (x, y), loss="softmax_cross_entropy", optimizer="adam", epochs=2,
                      batch_size=16, val_data=(x, y), verbose=False, devices=devices)
        out[name] = {"curves": h.curves(), "kernel": model.dense.kernel[...].tolist(),
                     "devices": sorted({d.id for a in jax.tree.leaves(nnx.state(model, nnx.Param))
                                        for d in a.devices()})}
    print("RESULT" + json.dumps(out))
    """
)


def test_eight_devices_match_one():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": ROOT}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    out = json.loads(line[len("RESULT"):])
    one, eight = out["one"], out["eight"]
    assert one["devices"] == [0] and eight["devices"] == list(range(8))  # params replicated on all 8
    for a, b in zip(one["curves"], eight["curves"]):
        for k in a:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(eight["kernel"], one["kernel"], rtol=1e-3, atol=1e-4)
    assert one["curves"][-1]["loss"] < one["curves"][0]["loss"]


def test_devices_errors():
    import jax
    from flax import nnx

    from cnnlab import train
    from tests.train._models import Softmax, blobs

    x, y = blobs(32)
    with pytest.raises(TypeError, match=r"devices must be a non-empty sequence of jax.Device; got \['cpu'\]"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (x, y), loss="mse", optimizer="sgd", epochs=1,
                  batch_size=8, devices=["cpu"], verbose=False)
    with pytest.raises(ValueError, match=r"batch_size 7 must be a multiple of the 2 devices"):
        train.fit(Softmax(64, 3, rngs=nnx.Rngs(0)), (x, y), loss="mse", optimizer="sgd", epochs=1,
                  batch_size=7, devices=[jax.devices()[0]] * 2, verbose=False)
