"""Minimal quote answers: what yfinance's `.info` needs to learn a time zone.

yfinance falls back to `.info` when its chart time-zone lookup fails; `.info` reads
quoteSummary, `/v7/finance/quote` and one fundamentals time series. The replay server
answers each with the fields it can derive from the symbol and its recorded bars.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kabuflow.replay.store import PriceSeries


def quote_summary_body(series: PriceSeries, modules: set[str], now: int) -> dict:
    """Return Yahoo's quoteSummary JSON with the requested modules we can fill."""
    available = {
        "quoteType": lambda: _quote_type(series),
        "summaryDetail": lambda: _summary_detail(series, now),
        "price": lambda: _price(series, now),
    }
    module = {name: build() for name, build in available.items() if name in modules}
    return {"quoteSummary": {"result": [module], "error": None}}


def quote_body(series_list: list[PriceSeries], now: int) -> dict:
    """Return Yahoo's `/v7/finance/quote` JSON; unknown symbols are left out."""
    result = [_quote(series, now) for series in series_list]
    return {"quoteResponse": {"result": result, "error": None}}


def timeseries_body() -> dict:
    """Return an empty fundamentals time series: there are none in recorded prices."""
    return {"timeseries": {"result": [], "error": None}}


def _quote_type(series: PriceSeries) -> dict[str, Any]:
    market = series.market
    first = int(series.timestamps[0]) if len(series) else None
    offset, short_name = market.utc_offset(first or 0)
    return {
        "exchange": market.exchange_name,
        "quoteType": market.instrument_type,
        "symbol": series.symbol,
        "underlyingSymbol": series.symbol,
        "firstTradeDateEpochUtc": first,
        "timeZoneFullName": market.zone,
        "timeZoneShortName": short_name,
        "gmtOffSetMilliseconds": offset * 1000,
        "maxAge": 1,
    }


def _summary_detail(series: PriceSeries, now: int) -> dict[str, Any]:
    last = _last_visible(series, now)
    return {
        "currency": series.market.currency,
        "previousClose": _at(series.close, last - 1),
        "open": _at(series.open, last),
        "dayLow": _at(series.low, last),
        "dayHigh": _at(series.high, last),
        "volume": _at(series.volume, last),
        "maxAge": 1,
    }


def _price(series: PriceSeries, now: int) -> dict[str, Any]:
    market = series.market
    last = _last_visible(series, now)
    return {
        "symbol": series.symbol,
        "currency": market.currency,
        "exchange": market.exchange_name,
        "quoteType": market.instrument_type,
        "regularMarketPrice": _at(series.close, last),
        "regularMarketTime": _at(series.timestamps.astype(float), last),
        "maxAge": 1,
    }


def _quote(series: PriceSeries, now: int) -> dict[str, Any]:
    market = series.market
    offset, short_name = market.utc_offset(now)
    last = _last_visible(series, now)
    return {
        "symbol": series.symbol,
        "quoteType": market.instrument_type,
        "currency": market.currency,
        "exchange": market.exchange_name,
        "fullExchangeName": market.full_exchange_name,
        "exchangeTimezoneName": market.zone,
        "exchangeTimezoneShortName": short_name,
        "gmtOffSetMilliseconds": offset * 1000,
        "regularMarketPrice": _at(series.close, last),
    }


def _last_visible(series: PriceSeries, now: int) -> int:
    return int(np.searchsorted(series.timestamps, now, side="right")) - 1


def _at(values: np.ndarray, index: int) -> float | None:
    if index < 0 or index >= len(values) or math.isnan(values[index]):
        return None
    return float(values[index])
