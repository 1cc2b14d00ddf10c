"""The body of Yahoo's `/v8/finance/chart/<symbol>` answer, built from recorded bars.

Missing values go out as JSON null, as Yahoo sends them. Daily and longer bars carry
`indicators.adjclose`; intraday bars do not, as with Yahoo.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from typing import Any

import numpy as np

from kabuflow.replay.aggregate import aggregate
from kabuflow.replay.intraday import (
    IntradayBars,
    current_trading_period,
    trading_periods,
)
from kabuflow.replay.markets import Market
from kabuflow.replay.store import PriceSeries
from kabuflow.replay.windows import (
    VALID_RANGES,
    ChartQuery,
    check_intraday_limits,
    select,
    unprocessable,
)

YEAR_SECONDS = 365 * 86400


def chart_body(
    series: PriceSeries,
    query: ChartQuery,
    now: int,
    intraday: IntradayBars | None = None,
) -> dict[str, Any]:
    """Return Yahoo's chart JSON for `series` (daily bars) answering `query`.

    Raises `YahooRefusal` (422) for an intraday window Yahoo would refuse or one no
    scenario supplied bars for.
    """
    if query.intraday:
        result = _intraday_result(series, query, now, intraday)
    else:
        result = _daily_result(series, query, now)
    return {"chart": {"result": [result], "error": None}}


def error_body(root: str, code: str, description: str) -> dict[str, Any]:
    """Return Yahoo's error JSON under `root` (`chart`, `quoteSummary`, ...)."""
    return {root: {"result": None, "error": {"code": code, "description": description}}}


def _daily_result(series: PriceSeries, query: ChartQuery, now: int) -> dict:
    market = series.market
    days = series.dates.astype(np.int64)
    mask = select(series.timestamps, days, query, now, market.zone)
    window = series.take(mask)
    bars = window if query.interval == "1d" else aggregate(window, query.interval)
    first = int(np.argmax(mask)) if len(window) else len(series)
    result: dict[str, Any] = {"meta": _meta(series, query, now, first)}
    if len(bars):
        result["timestamp"] = bars.timestamps.tolist()
    events = _events(window, query)
    if events:
        result["events"] = events
    quote = _quote(bars) if len(bars) else {}
    adjclose = {"adjclose": _floats(bars.adjclose)} if len(bars) else {}
    result["indicators"] = {"quote": [quote], "adjclose": [adjclose]}
    return result


def _intraday_result(
    series: PriceSeries, query: ChartQuery, now: int, bars: IntradayBars | None
) -> dict:
    market = series.market
    check_intraday_limits(query, now, market.zone)
    if bars is None:
        raise unprocessable(
            f"{query.interval} data not available for {series.symbol}: the replay "
            "server has recorded daily bars only and no scenario supplied these."
        )
    bars = bars.take(
        select(bars.timestamps, bars.local_days(market), query, now, market.zone)
    )
    days = sorted({market.local_date(int(t)) for t in bars.timestamps})
    before = series.dates < np.datetime64(days[0] if days else "9999-12-31", "D")
    meta = _meta(series, query, now, int(np.count_nonzero(before)))
    meta["tradingPeriods"] = trading_periods(market, days, query.include_prepost)
    result: dict[str, Any] = {"meta": meta}
    if len(bars.timestamps):
        result["timestamp"] = bars.timestamps.tolist()
    result["indicators"] = {"quote": [_quote(bars) if len(bars.timestamps) else {}]}
    return result


def _quote(bars: PriceSeries | IntradayBars) -> dict[str, list]:
    return {
        "open": _floats(bars.open),
        "high": _floats(bars.high),
        "low": _floats(bars.low),
        "close": _floats(bars.close),
        "volume": _integers(bars.volume),
    }


def _floats(values: np.ndarray) -> list[float | None]:
    if not np.isnan(values).any():
        return values.tolist()
    return [None if math.isnan(v) else v for v in values.tolist()]


def _integers(values: np.ndarray) -> list[int | None]:
    if not np.isnan(values).any():
        return values.astype(np.int64).tolist()
    return [None if math.isnan(v) else int(v) for v in values.tolist()]


def _events(window: PriceSeries, query: ChartQuery) -> dict[str, dict]:
    events: dict[str, dict] = {}
    stamps = window.timestamps
    paid = np.flatnonzero(np.nan_to_num(window.dividends) > 0)
    if "div" in query.events and len(paid):
        events["dividends"] = {
            str(stamps[i]): {
                "amount": float(window.dividends[i]),
                "date": int(stamps[i]),
            }
            for i in paid
        }
    split_rows = np.flatnonzero((window.splits > 0) & (window.splits != 1.0))
    if query.events & {"split", "splits"} and len(split_rows):
        events["splits"] = {
            str(stamps[i]): _split_event(int(stamps[i]), float(window.splits[i]))
            for i in split_rows
        }
    return events


def _split_event(stamp: int, ratio: float) -> dict[str, Any]:
    fraction = Fraction(ratio).limit_denominator(10_000)
    if fraction.numerator / fraction.denominator == ratio:
        numerator, denominator = fraction.numerator, fraction.denominator
    else:
        # No small fraction gives the ratio back exactly: send it whole.
        numerator, denominator = ratio, 1
    return {
        "date": stamp,
        "numerator": numerator,
        "denominator": denominator,
        "splitRatio": f"{numerator}:{denominator}",
    }


def _meta(
    series: PriceSeries, query: ChartQuery, now: int, first: int
) -> dict[str, Any]:
    """Return the chart's `meta`; `first` is the position of the window's first bar.

    `chartPreviousClose` is the close of the session before the window.
    """
    market = series.market
    offset, zone_name = market.utc_offset(now)
    visible = series.take(series.timestamps <= now)
    return {
        "currency": market.currency,
        "symbol": series.symbol,
        "exchangeName": market.exchange_name,
        "fullExchangeName": market.full_exchange_name,
        "instrumentType": market.instrument_type,
        "firstTradeDate": int(series.timestamps[0]) if len(series) else None,
        **_last_session(visible, market, now),
        "hasPrePostMarketData": market.instrument_type == "EQUITY"
        and market.zone == "America/New_York",
        "gmtoffset": offset,
        "timezone": zone_name,
        "exchangeTimezoneName": market.zone,
        **_year_range(visible, now),
        "chartPreviousClose": _previous_close(series, first),
        "priceHint": _price_hint(visible),
        "currentTradingPeriod": current_trading_period(
            market, _current_day(visible, market, now)
        ),
        "dataGranularity": query.interval,
        "range": query.range or "",
        "validRanges": list(VALID_RANGES),
    }


def _last_session(visible: PriceSeries, market: Market, now: int) -> dict[str, Any]:
    if len(visible) == 0:
        return {"regularMarketTime": None, "regularMarketPrice": None}
    last = len(visible) - 1
    _, close_instant = market.session_bounds(visible.dates[last].astype(dt.date))
    return {
        "regularMarketTime": min(close_instant, now),
        "regularMarketPrice": _number(visible.close[last]),
        "regularMarketDayHigh": _number(visible.high[last]),
        "regularMarketDayLow": _number(visible.low[last]),
        "regularMarketVolume": _integer(visible.volume[last]),
    }


def _previous_close(series: PriceSeries, first: int) -> float | None:
    if first == 0 or len(series) == 0:
        return None
    return _number(series.close[min(first, len(series)) - 1])


def _year_range(visible: PriceSeries, now: int) -> dict[str, Any]:
    recent = visible.timestamps > now - YEAR_SECONDS
    highs, lows = visible.high[recent], visible.low[recent]
    if not np.any(~np.isnan(highs)):
        return {"fiftyTwoWeekHigh": None, "fiftyTwoWeekLow": None}
    return {
        "fiftyTwoWeekHigh": _number(np.nanmax(highs)),
        "fiftyTwoWeekLow": _number(np.nanmin(lows)),
    }


def _price_hint(visible: PriceSeries) -> int:
    closes = visible.close[~np.isnan(visible.close)]
    return 4 if len(closes) and closes[-1] < 1 else 2


def _current_day(visible: PriceSeries, market: Market, now: int) -> dt.date:
    if len(visible):
        return visible.dates[-1].astype(dt.date)
    return market.local_date(now)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _integer(value: float) -> int | None:
    return None if math.isnan(value) else int(value)
