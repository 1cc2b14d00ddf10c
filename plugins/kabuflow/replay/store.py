"""Recorded daily prices, held per symbol as aligned NumPy arrays."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from kabuflow.replay.markets import Market, market_for

PRICE_COLUMNS = ("open", "high", "low", "close", "adjclose")
COLUMNS = ("dates", *PRICE_COLUMNS, "volume", "dividends", "splits")


@dataclass(frozen=True, eq=False)
class PriceSeries:
    """One symbol's daily bars, oldest first.

    `dates` are exchange-local `datetime64[D]`; prices and `volume` are float64 with
    NaN where the source had no value; `dividends` holds the amount paid on a date
    and `splits` the split ratio (0 on days without an event).
    """

    symbol: str
    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adjclose: np.ndarray
    volume: np.ndarray
    dividends: np.ndarray
    splits: np.ndarray

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def market(self) -> Market:
        return market_for(self.symbol)

    @cached_property
    def timestamps(self) -> np.ndarray:
        """Epoch seconds of each bar: its session's opening instant."""
        return self.market.session_opens(self.dates)

    def take(self, index: np.ndarray) -> PriceSeries:
        """Return the bars at `index` (a boolean mask or integer positions)."""
        taken = self.with_columns(**{n: getattr(self, n)[index] for n in COLUMNS})
        # Same bars, same instants: reuse them (computing them costs a time-zone pass).
        taken.__dict__["timestamps"] = self.timestamps[index]
        return taken

    def with_columns(self, **columns: np.ndarray) -> PriceSeries:
        """Return a copy with some columns replaced (timestamps are recomputed)."""
        return dataclasses.replace(self, **columns)

    def last_date(self) -> dt.date | None:
        return None if len(self) == 0 else self.dates[-1].astype(dt.date)


class PriceStore:
    """All recorded symbols; a later series for a symbol replaces an earlier one."""

    def __init__(self, series: Iterable[PriceSeries] = ()):
        self._series: dict[str, PriceSeries] = {}
        for item in series:
            self.add(item)

    def add(self, series: PriceSeries) -> None:
        self._series[series.symbol.upper()] = series

    def update(self, other: PriceStore) -> None:
        self._series.update(other._series)

    def get(self, symbol: str) -> PriceSeries | None:
        return self._series.get(symbol.upper())

    def __contains__(self, symbol: str) -> bool:
        return symbol.upper() in self._series

    def __len__(self) -> int:
        return len(self._series)

    def symbols(self) -> list[str]:
        return sorted(self._series)

    def last_date(self) -> dt.date | None:
        """Return the latest bar date over every symbol (None when empty)."""
        dates = [s.last_date() for s in self._series.values() if len(s)]
        return max(dates) if dates else None
