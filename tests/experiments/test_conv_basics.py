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
