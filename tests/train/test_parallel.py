"""Data parallelism: 8 simulated CPU devices, and two processes joined by ``jax.distributed``,
give the loss curve of 1 device, within float tolerance.

The device count is fixed when JAX starts, so the runs are subprocesses with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``.
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


MULTI_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys, jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
    from flax import nnx
    from cnnlab import train
    from tests.train._models import SmallCNN, blobs

    assert (jax.process_count(), jax.device_count(), jax.local_device_count()) == (2, 4, 2), jax.devices()
    x, y = blobs(64)
    kw = dict(loss="softmax_cross_entropy", optimizer="adam", batch_size=16, val_data=(x, y), verbose=False,
              devices=jax.devices(), checkpoint_dir=sys.argv[3])
    train.fit(SmallCNN(rngs=nnx.Rngs(0)), (x, y), epochs=1, **kw)  # interrupted after epoch 1
    model = SmallCNN(rngs=nnx.Rngs(9))  # other weights: the checkpoint must replace them
    h = train.fit(model, (x, y), epochs=2, resume=True, **kw)
    kernel = model.dense.kernel[...]
    print("RESULT" + json.dumps({"curves": h.curves(), "kernel": kernel.tolist(),
                                 "devices": sorted(d.id for d in kernel.sharding.device_set)}))
    """
)


def test_two_processes_with_jax_distributed_match_one_device_and_resume(tmp_path):
    """Multi-host through ``jax.distributed``: two processes of two CPU devices each train one
    4-device mesh, checkpoint, resume, and end with the loss curve and weights of one device."""
    import socket

    import jax
    from flax import nnx

    from cnnlab import train
    from tests.train._models import SmallCNN, blobs

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": ROOT}
    procs = [
        subprocess.Popen([sys.executable, "-c", MULTI_PROCESS_SCRIPT, f"localhost:{port}", str(i), str(tmp_path)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    try:
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:  # one that failed leaves the other waiting for it
            if p.poll() is None:
                p.kill()
                p.communicate()
    outs = []
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(next(ln for ln in stdout.splitlines() if ln.startswith("RESULT"))[len("RESULT"):]))
    assert outs[0] == outs[1]  # both processes hold the same replicated result
    got = outs[0]
    assert len(got["devices"]) == 4  # the weights live on all four devices of both processes

    x, y = blobs(64)
    model = SmallCNN(rngs=nnx.Rngs(0))
    want = train.fit(model, (x, y), loss="softmax_cross_entropy", optimizer="adam", epochs=2, batch_size=16,
                     val_data=(x, y), verbose=False, devices=[jax.devices()[0]])  # fmt: skip
    assert [r["epoch"] for r in got["curves"]] == [1, 2]
    for a, b in zip(want.curves(), got["curves"]):
        for k in a:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(got["kernel"], np.asarray(model.dense.kernel[...]), rtol=1e-3, atol=1e-4)
