"""Chart request parameters as Yahoo reads them, and which bars a window selects.

A window is either `range` (relative to the server's clock) or `period1`/`period2`
(epoch seconds, `period2` exclusive). Bars whose session has not opened by the
clock are never served. `range=Nd` means the last N sessions, as Yahoo serves it;
longer ranges count calendar time back from the clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from dateutil.relativedelta import relativedelta

from kabuflow.replay.errors import YahooRefusal

INTRADAY_INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h")
DAILY_INTERVALS = ("1d", "5d", "1wk", "1mo", "3mo")
VALID_RANGES = ("1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max")

# Yahoo's reach back for intraday bars, in days, and the 1m per-request cap.
INTRADAY_DAYS_BACK = {"1m": 30, "60m": 730, "1h": 730}
DEFAULT_INTRADAY_DAYS_BACK = 60
ONE_MINUTE_DAYS_PER_REQUEST = 8

_RANGE_PATTERN = re.compile(r"^(\d+)(d|wk|mo|y)$")
_RANGE_UNITS = {"d": "days", "wk": "weeks", "mo": "months", "y": "years"}


@dataclass(frozen=True)
class ChartQuery:
    """One chart request: an interval and a window (a range or two instants)."""

    interval: str
    range: str | None = None
    period1: int | None = None
    period2: int | None = None
    include_prepost: bool = False
    events: frozenset[str] = frozenset()

    @property
    def intraday(self) -> bool:
        return self.interval in INTRADAY_INTERVALS

    @property
    def is_timezone_probe(self) -> bool:
        """Whether this is yfinance's time-zone lookup (`range=1d&interval=1d`)."""
        return self.range == "1d" and self.interval == "1d"


def parse_query(args: Mapping[str, str]) -> ChartQuery:
    """Read chart parameters; raise `YahooRefusal` (400) for ones Yahoo rejects."""
    interval = args.get("interval", "1d")
    if interval not in INTRADAY_INTERVALS + DAILY_INTERVALS:
        raise _bad_input(
            f"interval={interval} is not supported. Valid intervals: "
            f"[{', '.join(INTRADAY_INTERVALS + DAILY_INTERVALS)}]"
        )
    events = frozenset(e for e in args.get("events", "").split(",") if e)
    prepost = args.get("includePrePost", "false").lower() == "true"
    if "period1" in args or "period2" in args:
        period1, period2 = _epoch(args, "period1"), _epoch(args, "period2")
        if period1 is not None and period2 is not None and period1 >= period2:
            raise _bad_input(
                "start date cannot be after end date. "
                f"startDate = {period1}, endDate = {period2}"
            )
        return ChartQuery(interval, None, period1, period2, prepost, events)
    range_ = args.get("range", "1mo")
    if range_ not in ("ytd", "max") and not _RANGE_PATTERN.match(range_):
        raise _bad_input(f"range={range_} is not supported")
    return ChartQuery(interval, range_, None, None, prepost, events)


def window_bounds(query: ChartQuery, now: int, zone: str) -> tuple[int, int]:
    """Return the window as epoch seconds [start, end), end never past the clock.

    A range of whole sessions (`Nd`) is bounded here by calendar days; the caller
    trims it to sessions with `select`.
    """
    end = now + 1
    if query.range is None:
        start = query.period1 if query.period1 is not None else -(2**62)
        if query.period2 is not None:
            end = min(end, query.period2)
        return start, end
    if query.range == "max":
        return -(2**62), end
    local_now = dt.datetime.fromtimestamp(now, ZoneInfo(zone))
    if query.range == "ytd":
        new_year = local_now.replace(month=1, day=1, hour=0, minute=0, second=0)
        return int(new_year.timestamp()), end
    count, unit = _RANGE_PATTERN.match(query.range).groups()
    back = relativedelta(**{_RANGE_UNITS[unit]: int(count)})
    return int((local_now - back).timestamp()), end


def select(
    timestamps: np.ndarray,
    local_days: np.ndarray,
    query: ChartQuery,
    now: int,
    zone: str,
) -> np.ndarray:
    """Return the boolean mask of bars inside the query's window.

    `local_days` holds each bar's exchange-local date (any comparable integer),
    used to count sessions for `range=Nd`.
    """
    sessions = _session_count(query)
    if sessions is not None:
        visible = timestamps <= now
        days = np.unique(local_days[visible])
        return visible & np.isin(local_days, days[max(len(days) - sessions, 0) :])
    start, end = window_bounds(query, now, zone)
    return (timestamps >= start) & (timestamps < end)


def check_intraday_limits(query: ChartQuery, now: int, zone: str) -> None:
    """Raise `YahooRefusal` (422) when Yahoo would not serve this intraday window."""
    start, end = window_bounds(query, now, zone)
    days_back = INTRADAY_DAYS_BACK.get(query.interval, DEFAULT_INTRADAY_DAYS_BACK)
    if query.range == "max":
        start = now - days_back * 86400
    start = max(start, -(2**40))
    prefix = (
        f"{query.interval} data not available for startTime={start} and endTime={end}."
    )
    per_request = ONE_MINUTE_DAYS_PER_REQUEST * 86400
    if query.interval == "1m" and end - start > per_request:
        raise unprocessable(
            f"{prefix} Only {ONE_MINUTE_DAYS_PER_REQUEST} days worth of 1m "
            "granularity data are allowed to be fetched per request."
        )
    if start < now - days_back * 86400:
        raise unprocessable(
            f"{prefix} The requested range must be within the last {days_back} days."
        )


def _session_count(query: ChartQuery) -> int | None:
    match = _RANGE_PATTERN.match(query.range or "")
    if match is None or match.group(2) != "d":
        return None
    return max(int(match.group(1)), 1)


def unprocessable(description: str) -> YahooRefusal:
    return YahooRefusal(422, "Unprocessable Entity", description)


def _epoch(args: Mapping[str, str], name: str) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(float(raw))
    except ValueError:
        raise _bad_input(f"{name}={raw} is not a number") from None


def _bad_input(description: str) -> YahooRefusal:
    return YahooRefusal(400, "Bad Request", f"Invalid input - {description}")
