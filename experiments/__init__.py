"""cnnlab experiments: one module per study, runnable as `python -m experiments.NAME`.

Each writes `metrics.json`, its figures and `report.md` to `results/NAME/` (or `--out DIR`);
`--quick` runs a small configuration for tests and CI.
"""
