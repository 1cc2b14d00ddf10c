"""Bar intervals, look-back periods and the fetch window, checked against Yahoo limits.

Yahoo serves intraday bars only for a recent past and, for `1m`, only a few days per
request; outside those limits it answers with an error or, worse, with no rows.
`check_window` refuses such a window before any request is made. We refuse rather
than split a long intraday window into several allowed requests: splitting is on the
roadmap, and refusing keeps one request per stock and one clear reason per refusal.

Every limit is applied with a day of margin (`today` is a date, the request goes out
later that day in some time zone), so a window we accept is inside Yahoo's limit.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from kabuflow.errors import InvalidRequestError

INTRADAY_INTERVALS = ("1m", "2m", "5m", "15m", "30m", "1h", "90m")
DAILY_INTERVALS = ("1d", "5d", "1wk", "1mo", "3mo")
INTERVALS = INTRADAY_INTERVALS + DAILY_INTERVALS
INTERVAL_ALIASES = {"60m": "1h"}
PERIODS = ("1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max")


@dataclass(frozen=True)
class IntradayLimit:
    """How far back Yahoo serves an intraday interval, and how much per request."""

    days_back: int
    days_per_request: int | None = None


# Yahoo's own error texts: "Only 8 days worth of 1m granularity data are allowed to be
# fetched per request" and "The requested range must be within the last N days".
# We allow 7 days per 1m request, one under Yahoo's 8, for the same margin as above.
INTRADAY_LIMITS = {
    "1m": IntradayLimit(days_back=30, days_per_request=7),
    "2m": IntradayLimit(days_back=60),
    "5m": IntradayLimit(days_back=60),
    "15m": IntradayLimit(days_back=60),
    "30m": IntradayLimit(days_back=60),
    "90m": IntradayLimit(days_back=60),
    "1h": IntradayLimit(days_back=730),
}

_PERIOD_MONTHS = {
    "1mo": 1,
    "3mo": 3,
    "6mo": 6,
    "1y": 12,
    "2y": 24,
    "5y": 60,
    "10y": 120,
}
_PERIOD_DAYS = {"1d": 1, "5d": 5}


def canonical_interval(raw: str) -> str:
    """Return the canonical name of an interval (`60m` becomes `1h`).

    Raises `InvalidRequestError` (field `interval`) for anything Yahoo does not serve.
    """
    if not isinstance(raw, str):
        raise InvalidRequestError("interval", f"expected a string, got {raw!r}")
    interval = INTERVAL_ALIASES.get(raw.strip(), raw.strip())
    if interval not in INTERVALS:
        raise InvalidRequestError(
            "interval", f"{raw!r} is not one of {', '.join(INTERVALS)} (or 60m)"
        )
    return interval


def canonical_period(raw: str) -> str:
    """Return `raw` trimmed if it is a period Yahoo accepts.

    Raises `InvalidRequestError` (field `period`) otherwise.
    """
    if not isinstance(raw, str) or raw.strip() not in PERIODS:
        raise InvalidRequestError(
            "period", f"{raw!r} is not one of {', '.join(PERIODS)}"
        )
    return raw.strip()


def is_intraday(interval: str) -> bool:
    """Return whether bars of `interval` are instants (intraday) rather than dates."""
    return canonical_interval(interval) in INTRADAY_INTERVALS


@dataclass(frozen=True)
class FetchWindow:
    """What to fetch: an interval plus either a period or a date range.

    `start` and `end` are exchange-local dates, `end` exclusive (`start` < `end`).
    The interval is stored in canonical form. Raises `InvalidRequestError` naming
    the field when the combination is impossible.
    """

    interval: str
    period: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self):
        object.__setattr__(self, "interval", canonical_interval(self.interval))
        if self.period is not None:
            _check_period_shape(self)
        else:
            _check_range_shape(self)

    @classmethod
    def parse(cls, interval, period=None, start=None, end=None) -> FetchWindow:
        """Build a window from request values: dates may be `YYYY-MM-DD` strings."""
        return cls(
            interval=interval,
            period=period,
            start=_parse_date("start", start),
            end=_parse_date("end", end),
        )

    @property
    def is_intraday(self) -> bool:
        """Whether this window asks for intraday bars."""
        return self.interval in INTRADAY_INTERVALS

    def span_days(self, today: dt.date) -> int:
        """Return how many calendar days the window covers, counted up to `today`."""
        first = self.first_day(today)
        last = self.end if self.end is not None else today + dt.timedelta(days=1)
        return (last - first).days

    def first_day(self, today: dt.date) -> dt.date:
        """Return the first date the window covers (a period counts back from today)."""
        if self.start is not None:
            return self.start
        return period_start(self.period, today)


def period_start(period: str, today: dt.date) -> dt.date:
    """Return the first date `period` covers when counted back from `today`.

    `max` has no first date: raises `InvalidRequestError` (field `period`).
    """
    if period == "max":
        raise InvalidRequestError("period", "max has no fixed first date")
    if period == "ytd":
        return dt.date(today.year, 1, 1)
    if period in _PERIOD_DAYS:
        return today - dt.timedelta(days=_PERIOD_DAYS[period] - 1)
    return _months_back(today, _PERIOD_MONTHS[period])


def check_window(window: FetchWindow, today: dt.date) -> FetchWindow:
    """Return `window` if Yahoo can serve it as of `today`; refuse it otherwise.

    Raises `InvalidRequestError` naming the field (`period`, `start` or `end`) and
    the limit in words: `max` with an intraday interval, a window reaching further
    back than the interval's limit, or a `1m` window longer than 7 days.
    """
    if window.start is not None and window.start > today:
        raise InvalidRequestError("start", f"{window.start} is in the future")
    limit = INTRADAY_LIMITS.get(window.interval)
    if limit is None:
        return window

    if window.period == "max":
        raise InvalidRequestError(
            "period",
            f"max is refused for {window.interval}: Yahoo serves {window.interval} "
            f"bars only for the last {limit.days_back} days",
        )
    _check_days_per_request(window, limit, today)
    _check_days_back(window, limit, today)
    return window


def _check_days_back(window: FetchWindow, limit: IntradayLimit, today: dt.date):
    earliest = today - dt.timedelta(days=limit.days_back - 1)
    if window.first_day(today) >= earliest:
        return
    field_name = "period" if window.period is not None else "start"
    asked = window.period if window.period is not None else str(window.start)
    raise InvalidRequestError(
        field_name,
        f"{asked} reaches back before {earliest}: Yahoo serves {window.interval} bars "
        f"only for the last {limit.days_back} days",
    )


def _check_days_per_request(window: FetchWindow, limit: IntradayLimit, today: dt.date):
    if limit.days_per_request is None:
        return
    span = window.span_days(today)
    if span <= limit.days_per_request:
        return
    field_name = "period" if window.period is not None else "end"
    raise InvalidRequestError(
        field_name,
        f"the window covers {span} days: Yahoo serves {window.interval} bars for at "
        f"most {limit.days_per_request} days per request",
    )


def _check_period_shape(window: FetchWindow) -> None:
    canonical = canonical_period(window.period)
    object.__setattr__(window, "period", canonical)
    if window.start is not None or window.end is not None:
        raise InvalidRequestError(
            "period", "give either a period or start and end, not both"
        )


def _check_range_shape(window: FetchWindow) -> None:
    for name in ("start", "end"):
        value = getattr(window, name)
        if value is None:
            raise InvalidRequestError(name, "required when no period is given")
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise InvalidRequestError(name, f"expected a date, got {value!r}")
    if window.start >= window.end:
        raise InvalidRequestError(
            "end", f"{window.end} must be after start {window.start} (end is exclusive)"
        )


def _parse_date(name: str, raw) -> dt.date | None:
    if raw is None or (isinstance(raw, dt.date) and not isinstance(raw, dt.datetime)):
        return raw
    if not isinstance(raw, str):
        raise InvalidRequestError(name, f"expected a YYYY-MM-DD date, got {raw!r}")
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidRequestError(
            name, f"expected a YYYY-MM-DD date, got {raw!r}"
        ) from None


def _months_back(today: dt.date, months: int) -> dt.date:
    year, month_zero = divmod(today.year * 12 + today.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month_zero + 1)[1]
    return dt.date(year, month_zero + 1, min(today.day, last_day))
