"""Plan the daily run: which daily bars each symbol of the universe still needs.

A symbol with stored bars is fetched from its `REVISION_SESSIONS`-th last stored
session through the target session: the sessions not yet stored, plus a few stored
ones again, because Yahoo revises recent bars (a late volume, a bar that was not
final when stored). A symbol with nothing stored gets `INITIAL_PERIOD` of history;
a longer backfill is a `bulk_fetch` run with a longer period.

Symbols with the same window are grouped, so the plan is a handful of windows, each
with its symbols, whatever the size of the universe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from kabuflow import calendars
from kabuflow.db import get_pool
from kabuflow.intervals import FetchWindow
from kabuflow.sqlfiles import load_sql

DAILY_INTERVAL = "1d"
INITIAL_PERIOD = "1y"
REVISION_SESSIONS = 3
TOKYO_TZ = "Asia/Tokyo"
# Calendar days that surely hold REVISION_SESSIONS sessions (Golden Week included).
_REVISION_LOOKBACK = dt.timedelta(days=21)


def target_session(moment: dt.datetime) -> dt.date | None:
    """Return the Tokyo date of `moment` if it is a Tokyo session, else None."""
    day = moment.astimezone(ZoneInfo(TOKYO_TZ)).date()
    tokyo = calendars.get_calendar(calendars.TOKYO)
    return day if tokyo.is_session(day.isoformat()) else None


def last_stored_dates(
    symbols: list[str], database_url: str | None = None
) -> dict[str, dt.date | None]:
    """Return each symbol's newest stored daily bar date (None: nothing stored)."""
    with get_pool(database_url).connection() as conn:
        rows = conn.execute(load_sql("daily_last_dates"), {"symbols": symbols})
        return dict(rows.fetchall())


def plan_windows(
    symbols: Iterable[str],
    last_dates: Mapping[str, dt.date | None],
    target: dt.date,
) -> dict[FetchWindow, list[str]]:
    """Return the windows to fetch, each with its symbols in the given order.

    Raises `CalendarRangeError` for a stored date outside the calendars' range.
    """
    plan: dict[FetchWindow, list[str]] = {}
    end = target + dt.timedelta(days=1)
    for symbol in symbols:
        window = _window(symbol, last_dates.get(symbol), end)
        plan.setdefault(window, []).append(symbol)
    return plan


def _window(symbol: str, last: dt.date | None, end: dt.date) -> FetchWindow:
    if last is None:
        return FetchWindow(DAILY_INTERVAL, period=INITIAL_PERIOD)
    start = min(_revision_start(symbol, last), end - dt.timedelta(days=1))
    return FetchWindow(DAILY_INTERVAL, start=start, end=end)


def _revision_start(symbol: str, last: dt.date) -> dt.date:
    recent = calendars.sessions(
        symbol, last - _REVISION_LOOKBACK, last + dt.timedelta(days=1)
    )
    return recent[-REVISION_SESSIONS] if len(recent) >= REVISION_SESSIONS else last
