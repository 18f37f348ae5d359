"""``--devices N|all``: a study trained data-parallel from the command line, on 8 simulated CPU devices."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from cnnlab import cli

# One process, 8 CPU devices (XLA must be told before JAX starts): the same quick run on one device
# and split over eight, then a batch that does not divide among them.
_SCRIPT = textwrap.dedent(
    """
    import sys
    from cnnlab import cli
    out = sys.argv[1]
    common = ["run", "mnist-cnn", "--quick", "--quiet", "--force"]
    print("status", cli.main(common + ["--out", out + "/one"]))
    print("status", cli.main(common + ["--out", out + "/eight", "--devices", "8"]))
    print("status", cli.main(common + ["--out", out + "/odd", "--devices", "all", "--batch-size", "12"]))
    """
)


def test_devices_trains_data_parallel_and_matches_one_device(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=600, env=env)  # fmt: skip
    statuses = [line for line in proc.stdout.splitlines() if line.startswith("status")]
    assert statuses == ["status 0", "status 0", "status 2"], proc.stdout + proc.stderr[-3000:]
    assert "--devices all: the batch size 12 must be a multiple of 8 devices" in proc.stderr
    one, eight = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "eight"))
    assert one["data_parallel_devices"] == 1 and eight["data_parallel_devices"] == 8
    assert eight["device"].startswith("8 x cpu")
    # The oracle: splitting each batch over devices sums the same gradients in another order, so the
    # run is the one-device run up to float32 rounding (the same seed, batches and updates).
    last1, last8 = one["history"]["model"][-1], eight["history"]["model"][-1]
    for key in ("loss", "val_loss"):
        assert abs(last1[key] - last8[key]) <= 1e-3 * abs(last1[key]), (key, last1, last8)
    assert abs(one["metrics"]["test_accuracy"] - eight["metrics"]["test_accuracy"]) <= 0.002


def _error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    return line


def test_more_devices_than_visible_says_how_to_simulate_them(capsys, tmp_path):
    line = _error(capsys, ["run", "mnist-cnn", "--quick", "--quiet", "--out", str(tmp_path), "--devices", "4"])
    assert "--devices 4: JAX sees 1 cpu device(s) here" in line
    assert "XLA_FLAGS=--xla_force_host_platform_device_count=N" in line


def test_devices_must_be_a_count_or_all(capsys, tmp_path):
    for bad in ("0", "-2", "two"):
        with pytest.raises(SystemExit) as exit_:  # argparse's own usage error
            cli.main(["run", "mnist-cnn", "--quick", "--out", str(tmp_path), f"--devices={bad}"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument --devices: must be a whole number of at least 1, or all; got {bad!r}" in err


def test_a_fit_many_study_refuses_devices(capsys, tmp_path):
    line = _error(capsys, ["run", "batchnorm", "--quick", "--quiet", "--out", str(tmp_path), "--devices", "all"])
    assert "batchnorm trains its seeds together on one device (fit_many)" in line
