"""Trading calendars per symbol: which days a market holds a session.

Calendars come from exchange_calendars, built lazily once per name per process and
bounded to `CALENDAR_FIRST_DAY` (our data starts in 1999) through one year after the
day they were built: dates outside those bounds raise `CalendarRangeError`.

Which calendar a symbol follows:
- `.T` symbols and `^N225`: the Tokyo Stock Exchange, `XTKS`;
- plain US tickers (1-5 letters, optional `-` class such as `BRK-B`) and the major US
  indices: the New York Stock Exchange, `XNYS` (NASDAQ keeps the same sessions);
- FX pairs (`=X`): `24/5`, every weekday, because currencies trade through national
  holidays (Yahoo publishes a daily FX bar on Golden Week weekdays);
- anything else (futures, crypto, other exchanges): no calendar, `None`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import exchange_calendars
import pandas as pd

from kabuflow.errors import CalendarRangeError, NoCalendarError

log = logging.getLogger(__name__)

CALENDAR_FIRST_DAY = dt.date(1999, 1, 1)
CALENDAR_DAYS_AHEAD = 366
CALENDAR_RENEW_MARGIN = dt.timedelta(days=30)
TOKYO = "XTKS"
NEW_YORK = "XNYS"
WEEKDAYS = "24/5"

_INDEX_CALENDARS = {
    "^N225": TOKYO,
    "^GSPC": NEW_YORK,
    "^DJI": NEW_YORK,
    "^IXIC": NEW_YORK,
}
_US_TICKER = re.compile(r"[A-Z]{1,5}(?:-[A-Z]{1,2})?")

_lock = threading.Lock()
_calendars: dict[str, _Bounded] = {}


@dataclass(frozen=True)
class _Bounded:
    calendar: exchange_calendars.ExchangeCalendar
    first_day: dt.date
    last_day: dt.date

    def check(self, start: dt.date, end: dt.date) -> None:
        if start < self.first_day:
            raise CalendarRangeError(
                "start", f"{start} is before {self.first_day}, where calendars begin"
            )
        if end - dt.timedelta(days=1) > self.last_day:
            raise CalendarRangeError(
                "end", f"{end} is after {self.last_day}, where calendars end"
            )


def calendar_name(symbol: str) -> str | None:
    """Return the exchange_calendars name a normalized symbol trades on, or None."""
    if symbol.endswith(".T"):
        return TOKYO
    if symbol in _INDEX_CALENDARS:
        return _INDEX_CALENDARS[symbol]
    if symbol.endswith("=X"):
        return WEEKDAYS
    if _US_TICKER.fullmatch(symbol):
        return NEW_YORK
    return None


def sessions(symbol: str, start: dt.date, end: dt.date) -> list[dt.date]:
    """Return the session dates of `symbol`'s market from `start` to `end` (exclusive).

    Raises `NoCalendarError` when the symbol has no calendar and `CalendarRangeError`
    when the range leaves the calendar's bounds.
    """
    bounded = _calendar_for(symbol)
    if start >= end:
        return []
    bounded.check(start, end)

    calendar = bounded.calendar
    # exchange_calendars refuses dates outside its sessions: clip to them.
    first = max(start, calendar.first_session.date())
    last = min(end - dt.timedelta(days=1), calendar.last_session.date())
    if first > last:
        return []
    found = calendar.sessions_in_range(first.isoformat(), last.isoformat())
    return [stamp.date() for stamp in found]


def session_open(symbol: str, day: dt.date) -> dt.datetime | None:
    """Return when `day`'s session opens (UTC), or None for no session / no calendar.

    Raises `CalendarRangeError` when `day` is outside the calendar's bounds.
    """
    return _session_edge(symbol, day, "open")


def session_close(symbol: str, day: dt.date) -> dt.datetime | None:
    """Return when `day`'s session closes (UTC), or None for no session / no calendar.

    Raises `CalendarRangeError` when `day` is outside the calendar's bounds.
    """
    return _session_edge(symbol, day, "close")


def _session_edge(symbol: str, day: dt.date, edge: str) -> dt.datetime | None:
    name = calendar_name(symbol)
    if name is None:
        return None
    if not sessions(symbol, day, day + dt.timedelta(days=1)):
        return None
    calendar = get_calendar(name)
    if edge == "open":
        return calendar.session_open(day.isoformat()).to_pydatetime()
    return calendar.session_close(day.isoformat()).to_pydatetime()


def missing_sessions(
    symbol: str, dates: Iterable[dt.date], start: dt.date, end: dt.date
) -> list[dt.date]:
    """Return the sessions in [`start`, `end`) that `dates` does not contain.

    Holidays and weekends are never reported. `dates` may hold dates, datetimes or
    pandas Timestamps (their date part counts). Raises like `sessions`.
    """
    present = {_as_date(value) for value in dates}
    return [day for day in sessions(symbol, start, end) if day not in present]


def get_calendar(name: str) -> exchange_calendars.ExchangeCalendar:
    """Return the calendar `name`, building it on first use in this process."""
    return _bounded(name).calendar


def _bounded(name: str) -> _Bounded:
    # One lock for all names: a build takes about 0.4 s and happens once per name,
    # and again when a long-lived process (a scheduler that forked its workers with
    # calendars built, see kabuflow.stack.warm) nears the calendar's last day.
    with _lock:
        bounded = _calendars.get(name)
        if bounded is None or bounded.last_day < _today() + CALENDAR_RENEW_MARGIN:
            bounded = _build(name)
            _calendars[name] = bounded
    return bounded


def build_calendars() -> list[str]:
    """Build every calendar `calendar_name` can answer now; return their names."""
    names = [TOKYO, NEW_YORK, WEEKDAYS]
    for name in names:
        _bounded(name)
    return names


def _today() -> dt.date:
    return dt.date.today()


def _build(name: str) -> _Bounded:
    last = _today() + dt.timedelta(days=CALENDAR_DAYS_AHEAD)
    log.debug("building calendar %s from %s to %s", name, CALENDAR_FIRST_DAY, last)
    calendar = exchange_calendars.get_calendar(
        name, start=CALENDAR_FIRST_DAY.isoformat(), end=last.isoformat()
    )
    return _Bounded(calendar, CALENDAR_FIRST_DAY, last)


def _calendar_for(symbol: str) -> _Bounded:
    name = calendar_name(symbol)
    if name is None:
        raise NoCalendarError(f"no trading calendar is known for {symbol}")
    return _bounded(name)


def _as_date(value) -> dt.date:
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date()
    return value
