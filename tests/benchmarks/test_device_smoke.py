"""`benchmarks/device.py --tiny`: every section runs on the CPU and writes its JSON and markdown."""

import json
import math
import subprocess
import sys

import pytest

from tests.benchmarks.conftest import BENCHMARKS


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("device")
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "device.py"), "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    return proc, out


def _finite(*values):
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def test_runs_every_section_and_writes_both_files(tiny_run):
    proc, out = tiny_run
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads((out / "device.json").read_text())
    assert set(result["sections"]) == {"ops", "zoo", "many", "time_to_accuracy", "bf16"}
    for name, sec in result["sections"].items():
        assert not sec["error"], (name, sec["notes"])
        # On a busy machine a section may run out of its time: what it left out is named, never silent.
        assert sec["rows"], (name, sec["skipped"])
        assert all("s were spent" in s for s in sec["skipped"]), (name, sec["skipped"])
    env = result["env"]
    assert env["missing"] == [] and env["device"]["backend"] == "cpu"
    assert all(env["versions"][k] for k in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint"))
    md = (out / "device.md").read_text()
    for title in ("cnnlab.ops against jax.lax", "Zoo training throughput", "fit_many scaling", "Time to accuracy",
                  "bfloat16 against float32", "Versions: jax "):  # fmt: skip
        assert title in md


def test_ops_agree_with_lax_at_both_sizes(tiny_run):
    sec = json.loads((tiny_run[1] / "device.json").read_text())["sections"]["ops"]
    rows = sec["rows"]
    ops = ("conv2d 3x3 SAME", "conv2d_transpose 3x3/2 SAME", "max_pool2d 2x2", "avg_pool2d 2x2",
           "batch_norm (training)", "dense")  # fmt: skip
    for op in ops:
        for batch in (8, 16):
            ran = any(r["op"] == op and r["batch"] == batch for r in rows)
            assert ran or f"{op} at batch {batch} (" in " ".join(sec["skipped"]), (op, batch)
    for r in rows:
        assert r["agree"] is True, r
        assert _finite(r["fwd_ours_ms"], r["fwd_lax_ms"], r["fwd_bwd_ours_ms"], r["fwd_bwd_lax_ms"])


def test_training_sections_give_finite_numbers(tiny_run):
    sections = json.loads((tiny_run[1] / "device.json").read_text())["sections"]
    for row in sections["zoo"]["rows"]:
        for peer in ("cnnlab scan", "Flax NNX per-step"):
            assert _finite(row[peer]["images_per_s"], row[peer]["last_loss"]), (row["model"], peer)
        assert "PyTorch CUDA" not in row  # no CUDA here: skipped, with the reason in the notes
    assert any(n.startswith("PyTorch CUDA not run:") for n in sections["zoo"]["notes"])
    assert [r["members"] for r in sections["many"]["rows"]] == [1, 4]
    assert all(_finite(r["images_per_s"], r["compile_s"], r["last_loss"]) for r in sections["many"]["rows"])
    tta = {r["dataset"]: r for r in sections["time_to_accuracy"]["rows"]}
    assert tta["mnist"]["training_images"] == 256 and _finite(tta["mnist"]["best_accuracy"])
    assert tta["mnist"]["model"] == "MnistCNN" and tta["mnist"]["epochs"] == 1
    for row in sections["bf16"]["rows"]:
        assert _finite(row["float32"]["images_per_s"], row["bfloat16"]["images_per_s"], row["bfloat16"]["last_loss"])
