"""Multi-day bars built from daily ones, the way Yahoo builds them.

A bar takes the first open, the highest high, the lowest low, the last close (and
adjusted close) and the summed volume of its days, skipping missing values. Weekly
bars start on Monday, monthly bars on the 1st, quarterly bars on the 1st of January,
April, July and October, each stamped with that day's session-open instant even when
the market was shut that day; `5d` bars are runs of five sessions from the window's
first one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kabuflow.replay.store import PriceSeries

MULTI_DAY_INTERVALS = ("5d", "1wk", "1mo", "3mo")


def aggregate(series: PriceSeries, interval: str) -> PriceSeries:
    """Return `series` (daily bars) as bars of `interval`; events are dropped.

    The returned `dates` are the bars' labels (Monday, 1st of month, ...).
    """
    labels = _labels(series.dates, interval)
    frame = pd.DataFrame(
        {
            "label": labels,
            "open": series.open,
            "high": series.high,
            "low": series.low,
            "close": series.close,
            "adjclose": series.adjclose,
            "volume": series.volume,
        }
    )
    groups = frame.groupby("label", sort=True)
    bars = groups.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        adjclose=("adjclose", "last"),
    )
    bars["volume"] = groups["volume"].sum(min_count=1)
    empty = np.zeros(len(bars))
    return series.with_columns(
        dates=bars.index.to_numpy().astype("datetime64[D]"),
        **{name: bars[name].to_numpy(np.float64) for name in bars.columns},
        dividends=empty,
        splits=empty,
    )


def _labels(dates: np.ndarray, interval: str) -> np.ndarray:
    days = dates.astype("datetime64[D]")
    if interval == "1wk":
        # Day 0 of the epoch (1970-01-01) was a Thursday: shift so Monday is 0.
        weekday = (days.astype(np.int64) + 3) % 7
        return days - weekday.astype("timedelta64[D]")
    if interval == "1mo":
        return days.astype("datetime64[M]").astype("datetime64[D]")
    if interval == "3mo":
        months = days.astype("datetime64[M]").astype(np.int64)
        return (months - months % 3).astype("datetime64[M]").astype("datetime64[D]")
    if interval == "5d":
        return days[(np.arange(len(days)) // 5) * 5]
    raise ValueError(f"not a multi-day interval: {interval}")
