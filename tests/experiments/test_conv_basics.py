"""`conv-basics`: the quick run (the lesson's functions, `cnnlab.teaching`, are tested in tests/test_teaching.py)."""

from cnnlab.studies import conv_basics
from tests.experiments._checks import check_run, run_quick


def test_quick_run_reports(tmp_path):
    record = run_quick(conv_basics.STUDY, tmp_path)
    check_run(
        tmp_path, "conv-basics", data_name="mnist",
        metrics=("loop_max_abs_diff", "template_peak_error_px", "multichannel_sum_max_abs_diff"),
    )  # fmt: skip
    m = record["metrics"]
    # Our op agrees with the loop definition to float32 rounding, in every case it ran.
    assert m["loop_max_abs_diff"] < 1e-5 and m["loop_cases"] >= 8
    assert m["multichannel_sum_max_abs_diff"] < 1e-5
    # 28x28 with a 3x3 kernel: VALID 26, SAME 28; stride 2: 13 and 14.
    assert (m["valid_stride1_size"], m["same_stride1_size"]) == (26, 28)
    assert (m["valid_stride2_size"], m["same_stride2_size"]) == (13, 14)
    # A patch of the image used as a kernel finds itself.
    assert m["template_peak_error_px"] == 0.0
    files = {f["file"] for f in record["figures"]}
    assert {"kernels.png", "outputs.png", "padding.png", "multichannel.png", "template.png"} <= files
    assert all(row["ours"] == row["reference"] for row in record["references"][:4])
    assert record["history"] == {}  # nothing is trained
    # The seeds' lessons: seed 003's hand answers (Q1, Q9), its code's bugs corrected equal to cnnlab.ops,
    # every op against the loops or NumPy to float32 rounding, and the sizes the seeds print or imply.
    assert m["q1_conv1d"] == [7, 6, 7] and m["q9_maxpool_stride2"] == [5, 7, 3, 2, 6]
    assert m["seed_code_fixed_equals_ops"] is True
    seed_rows = [row for row in record["references"] if row["quantity"].startswith(("Q1:", "Q9:"))]
    assert [(row["ours"], row["reference"]) for row in seed_rows] == [("[7, 6, 7]",) * 2, ("[5, 7, 3, 2, 6]",) * 2]
    for key in ("signal_conv1d", "padding_loops", "pooling_numpy", "colour_loops", "seed004_loops"):
        assert m[f"{key}_max_abs_diff"] < 1e-5, key
    assert (m["padding0_size"], m["padding10_size"], m["seed004_pooled_size"]) == (26, 46, 12)
    seeds = {"signal.png", "padding_0_10.png", "pooling.png", "colour_channels.png", "colour_kernels.png",
             "conv_then_pool.png", "patch_kernel_on_digits.png", "q5_kernels.png"}  # fmt: skip
    assert seeds <= files
    captions = {f["file"]: f["caption"] for f in record["figures"]}
    assert all(captions[f].startswith(("seed 003", "seed 004")) for f in seeds)
    assert "grace_hopper" not in captions["colour_kernels.png"] and "Grace Hopper" in captions["colour_kernels.png"]
    report = (tmp_path / "report.md").read_text()
    assert (
        "| Q3 `conv1d` (`output[i] =` for `+=`) | x=[2, 3, -1, 5, -2], k=[1, 2, 1] | [-1, 5, -2] | [7, 6, 7] |"
        in report
    )
