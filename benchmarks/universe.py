"""Where the benchmarks (and the real-Airflow tests) find the recorded universe.

`KABUFLOW_UNIVERSE_PARQUET`, by default the shared data set beside the repository:
daily bars of 3,768 Tokyo symbols over two years, 1.8 million rows, too large to
ship with the project.
"""

from __future__ import annotations

import os
from pathlib import Path

UNIVERSE_VARIABLE = "KABUFLOW_UNIVERSE_PARQUET"
DEFAULT_UNIVERSE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "tse_daily_2020-09_2022-09.parquet"
)
UNIVERSE = Path(os.environ.get(UNIVERSE_VARIABLE) or DEFAULT_UNIVERSE)
