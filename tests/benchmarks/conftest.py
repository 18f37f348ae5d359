"""The benchmark scripts' helper modules (`benchmarks/_arch.py`, ...) import each other by bare name."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))  # appended: nothing in it shadows an installed module
