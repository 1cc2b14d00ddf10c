"""Intraday bars a scenario supplies, and the trading periods Yahoo sends with them.

The recorded data is daily only, so the replay server serves intraday bars solely
from a scenario, never made up from daily prices.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kabuflow.replay.markets import Market

INTERVAL_ALIASES = {"1h": "60m"}


@dataclass(frozen=True, eq=False)
class IntradayBars:
    """Bars of one symbol and interval, oldest first; `timestamps` in epoch seconds."""

    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def take(self, mask: np.ndarray) -> IntradayBars:
        return IntradayBars(
            *(getattr(self, name)[mask] for name in self.__dataclass_fields__)
        )

    def local_days(self, market: Market) -> np.ndarray:
        """Return each bar's exchange-local date as days since the epoch."""
        offsets = np.array([market.utc_offset(int(t))[0] for t in self.timestamps])
        return (self.timestamps + offsets) // 86400


def canonical_interval(interval: str) -> str:
    return INTERVAL_ALIASES.get(interval, interval)


def trading_periods(market: Market, days: list[dt.date], prepost: bool):
    """Return Yahoo's `tradingPeriods` for the sessions of `days`.

    Regular hours only as a list of one-element lists, or with `prepost` a dict of
    `pre`, `regular` and `post` lists, as Yahoo shapes them.
    """
    regular = [[_period(market, *market.session_bounds(day))] for day in days]
    if not prepost:
        return regular
    pre = [[_period(market, start, start)] for start, _ in _bounds(market, days)]
    post = [[_period(market, end, end)] for _, end in _bounds(market, days)]
    return {"pre": pre, "regular": regular, "post": post}


def current_trading_period(market: Market, day: dt.date) -> dict:
    """Return Yahoo's `currentTradingPeriod` for the session of `day`."""
    start, end = market.session_bounds(day)
    return {
        "pre": _period(market, start, start),
        "regular": _period(market, start, end),
        "post": _period(market, end, end),
    }


def _bounds(market: Market, days: list[dt.date]) -> list[tuple[int, int]]:
    return [market.session_bounds(day) for day in days]


def _period(market: Market, start: int, end: int) -> dict:
    offset, name = market.utc_offset(start)
    return {"timezone": name, "start": start, "end": end, "gmtoffset": offset}
