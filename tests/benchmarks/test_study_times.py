"""`benchmarks/study_times.py`: full-run wall times read from the records, and the table (no study is run here)."""

import json

import study_times


def test_full_times_prefer_the_run_record_over_the_page(tmp_path):
    page = tmp_path / "RESULTS.md"
    page.write_text("# Results\n\n## lenet: LeNet\n\ntext\nDevice: cpu. Wall time 964.0 s. Run x.\n\n"
                    "## mnist-cnn: CNN\n\nDevice: cpu. Wall time 113.7 s.\n\n## lenet (lenet-fashion_mnist): F\n\n"
                    "Wall time 2822.0 s.\n")  # fmt: skip
    results = tmp_path / "results"
    for folder, record in {
        "mnist-cnn": {"experiment": "mnist-cnn", "quick": False, "wall_seconds": 101.5},
        "quick-mnist": {"experiment": "mnist-cnn", "quick": True, "wall_seconds": 9.0},  # quick: not a full run
        "mnist-cnn-fashion_mnist": {"experiment": "mnist-cnn", "quick": False, "wall_seconds": 500.0},  # other data
    }.items():  # fmt: skip
        (results / folder).mkdir(parents=True)
        (results / folder / "metrics.json").write_text(json.dumps(record))
    found = study_times.full_times(results, page)
    assert found["lenet"] == {"seconds": 964.0, "from": str(page)}  # the first (default-data) section
    assert found["mnist-cnn"] == {"seconds": 101.5, "from": str(results / "mnist-cnn" / "metrics.json")}
    assert set(found) == {"lenet", "mnist-cnn"}


def test_table_marks_each_target():
    result = {"cpu": {"model": "cpu X", "cores": 2}, "commit": "abc", "date": "2026-12-04", "rows": [
        {"study": "lenet", "full_s": 964.0, "quick_cold_s": 41.0, "quick_warm_s": 19.5},
        {"study": "mnist-cnn", "full_s": 101.5, "quick_cold_s": 25.0, "quick_warm_s": 21.0},
        {"study": "segmentation", "full_s": None, "quick_cold_s": 12.0, "quick_warm_s": None},
    ]}  # fmt: skip
    lines = study_times.markdown(result).splitlines()
    assert "| lenet | 964 | no | 41 | 19.5 | yes |" in lines
    assert "| mnist-cnn | 102 | yes | 25 | 21 | no |" in lines
    assert "| segmentation |  |  | 12 |  | yes |" in lines
