"""Trading calendars per symbol: holidays are not gaps, a missing session is (Y10)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from kabuflow import calendars
from kabuflow.calendars import (
    calendar_name,
    missing_sessions,
    session_close,
    session_open,
    sessions,
)
from kabuflow.errors import CalendarRangeError, NoCalendarError

D = dt.date
# The dates Yahoo published for 7203.T around Golden Week 2022 (from the shared
# real data set): 04-29 and 05-03..05-05 are holidays, 04-30/05-01 a weekend.
TOYOTA_2022_DATES = [
    D(2022, 4, 18), D(2022, 4, 19), D(2022, 4, 20), D(2022, 4, 21), D(2022, 4, 22),
    D(2022, 4, 25), D(2022, 4, 26), D(2022, 4, 27), D(2022, 4, 28), D(2022, 5, 2),
    D(2022, 5, 6), D(2022, 5, 9), D(2022, 5, 10), D(2022, 5, 11), D(2022, 5, 12),
    D(2022, 5, 13),
]  # fmt: skip
WINDOW = (D(2022, 4, 18), D(2022, 5, 14))


@pytest.mark.parametrize(
    ("symbol", "name"),
    [
        ("7203.T", "XTKS"),
        ("130A.T", "XTKS"),
        ("^N225", "XTKS"),
        ("AAPL", "XNYS"),
        ("BRK-B", "XNYS"),
        ("F", "XNYS"),
        ("^GSPC", "XNYS"),
        ("USDJPY=X", "24/5"),
        ("JPYUSD=X", "24/5"),
        ("BTC-USD", None),
        ("ES=F", None),
        ("VOD.L", None),
        ("^FTSE", None),
        ("TOOLONG", None),
    ],
)
def test_calendar_name_per_symbol(symbol, name):
    assert calendar_name(symbol) == name


def test_y10_holidays_are_not_gaps():
    assert missing_sessions("7203.T", TOYOTA_2022_DATES, *WINDOW) == []


def test_y10_a_real_trading_day_missing_upstream_is_reported():
    dates = [day for day in TOYOTA_2022_DATES if day != D(2022, 5, 2)]

    assert missing_sessions("7203.T", dates, *WINDOW) == [D(2022, 5, 2)]


def test_missing_sessions_accepts_timestamps_and_datetimes():
    stamps = [pd.Timestamp(day, tz="Asia/Tokyo") for day in TOYOTA_2022_DATES[:-1]]
    stamps[0] = dt.datetime(2022, 4, 18, 0, 0)

    assert missing_sessions("7203.T", stamps, *WINDOW) == [D(2022, 5, 13)]


def test_fx_trades_through_golden_week_on_weekdays():
    golden_week = (D(2024, 4, 27), D(2024, 5, 7))

    assert sessions("USDJPY=X", *golden_week) == [
        D(2024, 4, 29), D(2024, 4, 30), D(2024, 5, 1), D(2024, 5, 2), D(2024, 5, 3),
        D(2024, 5, 6),
    ]  # fmt: skip
    assert sessions("7203.T", *golden_week) == [
        D(2024, 4, 30), D(2024, 5, 1), D(2024, 5, 2),
    ]  # fmt: skip


def test_sessions_end_is_exclusive_and_weekends_hold_none():
    assert sessions("7203.T", D(2024, 6, 14), D(2024, 6, 17)) == [D(2024, 6, 14)]
    assert sessions("AAPL", D(2024, 6, 15), D(2024, 6, 17)) == []
    assert sessions("AAPL", D(2024, 6, 17), D(2024, 6, 17)) == []


def test_session_close_is_utc_and_follows_rule_changes():
    # Tokyo closed at 15:00 until 2024-11-04 and at 15:30 since.
    assert session_close("7203.T", D(2024, 5, 2)) == dt.datetime(
        2024, 5, 2, 6, 0, tzinfo=dt.UTC
    )
    assert session_close("7203.T", D(2025, 1, 6)) == dt.datetime(
        2025, 1, 6, 6, 30, tzinfo=dt.UTC
    )
    assert session_close("AAPL", D(2024, 7, 3)) == dt.datetime(
        2024, 7, 3, 17, 0, tzinfo=dt.UTC
    )  # the half day before Independence Day


def test_session_open_is_utc():
    assert session_open("7203.T", D(2024, 5, 2)) == dt.datetime(
        2024, 5, 2, 0, 0, tzinfo=dt.UTC
    )
    assert session_open("7203.T", D(2024, 5, 3)) is None
    assert session_open("ES=F", D(2024, 5, 2)) is None


def test_session_close_is_none_without_a_session_or_a_calendar():
    assert session_close("7203.T", D(2024, 5, 3)) is None
    assert session_close("BTC-USD", D(2024, 5, 2)) is None


def test_symbol_without_calendar_raises_for_sessions():
    with pytest.raises(NoCalendarError):
        sessions("BTC-USD", *WINDOW)
    with pytest.raises(NoCalendarError):
        missing_sessions("ES=F", [], *WINDOW)


def test_dates_outside_the_calendar_bounds_are_refused():
    with pytest.raises(CalendarRangeError) as early:
        sessions("7203.T", D(1998, 12, 1), D(1999, 1, 10))
    far = dt.date.today() + dt.timedelta(days=400)
    with pytest.raises(CalendarRangeError) as late:
        sessions("7203.T", far, far + dt.timedelta(days=3))

    assert early.value.field == "start"
    assert late.value.field == "end"
    assert sessions("7203.T", D(1999, 1, 1), D(1999, 1, 5)) == [D(1999, 1, 4)]


def test_each_calendar_is_built_once_per_process(monkeypatch):
    calendars.get_calendar("XTKS")
    built = []
    monkeypatch.setattr(calendars, "_build", built.append)

    sessions("7203.T", *WINDOW)
    sessions("^N225", *WINDOW)

    assert built == []


def test_a_calendar_near_its_last_day_is_built_again(monkeypatch):
    built = calendars.get_calendar("XTKS")
    later = dt.date.today() + dt.timedelta(days=calendars.CALENDAR_DAYS_AHEAD - 10)
    monkeypatch.setattr(calendars, "_today", lambda: later)

    renewed = calendars.get_calendar("XTKS")

    assert renewed is not built
    assert calendars._bounded("XTKS").last_day > later + dt.timedelta(days=300)
    assert calendars.get_calendar("XTKS") is renewed  # once renewed, kept


def test_warming_builds_every_calendar_a_symbol_can_name():
    names = calendars.build_calendars()

    symbols = ["7203.T", "^N225", "AAPL", "^GSPC", "USDJPY=X"]
    assert {calendar_name(s) for s in symbols} == set(names)
    assert set(names) <= set(calendars._calendars)
