"""Make `tse_daily_sample.parquet`: 300 Tokyo symbols x two years from the big file.

The choice is reproducible (sorted inputs, a fixed seed) and keeps the quirks worth a
test: the large caps of the other sample files, symbols with real splits, with a
split of ratio 1.0, with zero-volume days, and the two rows of NaN prices.

    .venv/bin/python data/sample/make_sample.py [--source PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("make_sample")

SOURCE = Path("/work/shared/data/tse_daily_2020-09_2022-09.parquet")
OUT = Path(__file__).resolve().parent / "tse_daily_sample.parquet"
SIZE = 300
SEED = 20220916
# The large caps of tse_full_history/ and tse_unadjusted_2016_2020/.
LARGE_CAPS = (
    "4063.T 4502.T 6758.T 6861.T 7203.T 7267.T 7751.T 7974.T "
    "8306.T 8316.T 8411.T 8591.T 8604.T 9432.T 9984.T"
).split()
WITH_SPLITS = 20
WITH_ZERO_VOLUME = 20


def choose(prices: pd.DataFrame) -> list[str]:
    """Return the sample's symbols, sorted."""
    chosen = set(LARGE_CAPS)
    nan_price = prices["close"].isna()
    chosen.update(prices.loc[nan_price, "symbol"])
    splits = prices[(prices["stock_splits"] != 0)]
    chosen.update(sorted(splits.loc[splits["stock_splits"] == 1.0, "symbol"].unique()))
    real = sorted(splits.loc[splits["stock_splits"] != 1.0, "symbol"].unique())
    chosen.update(real[:WITH_SPLITS])
    zero_days = prices[prices["volume"] == 0].groupby("symbol").size()
    ranked = zero_days.sort_values(ascending=False, kind="stable")
    chosen.update(ranked.index[:WITH_ZERO_VOLUME])
    rest = sorted(set(prices["symbol"]) - chosen)
    rng = np.random.default_rng(SEED)
    chosen.update(rng.choice(rest, size=SIZE - len(chosen), replace=False))
    return sorted(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    prices = pd.read_parquet(args.source)
    symbols = choose(prices)
    sample = prices[prices["symbol"].isin(symbols)].sort_values(["symbol", "date"])
    sample.to_parquet(args.out, index=False, compression="zstd", compression_level=19)
    log.info("wrote %s rows of %s symbols to %s", len(sample), len(symbols), args.out)


if __name__ == "__main__":
    main()
