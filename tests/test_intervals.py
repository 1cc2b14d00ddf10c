"""Intervals, periods and windows: Yahoo intraday limits refused up front (case Y7)."""

from __future__ import annotations

import datetime as dt

import pytest

from kabuflow.errors import InvalidRequestError
from kabuflow.intervals import (
    INTERVALS,
    FetchWindow,
    canonical_interval,
    canonical_period,
    check_window,
    period_start,
)

TODAY = dt.date(2024, 6, 14)


def days_ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def refusal(window: FetchWindow) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        check_window(window, TODAY)
    return caught.value


def test_60m_is_1h_and_every_canonical_interval_is_itself():
    assert canonical_interval("60m") == "1h"
    assert FetchWindow("60m", period="1mo").interval == "1h"
    assert [canonical_interval(name) for name in INTERVALS] == list(INTERVALS)


@pytest.mark.parametrize("raw", ["7m", "1M", "", "1 h", "daily", None, 60])
def test_unknown_interval_is_refused_naming_the_field(raw):
    with pytest.raises(InvalidRequestError) as caught:
        canonical_interval(raw)
    assert caught.value.field == "interval"


@pytest.mark.parametrize("raw", ["-1d", "2d", "1w", "MAX", "", None])
def test_unknown_period_is_refused_naming_the_field(raw):
    with pytest.raises(InvalidRequestError) as caught:
        canonical_period(raw)
    assert caught.value.field == "period"


def test_window_takes_a_period_or_a_range_never_both_or_neither():
    with pytest.raises(InvalidRequestError) as both:
        FetchWindow("1d", period="1y", start=days_ago(5), end=TODAY)
    with pytest.raises(InvalidRequestError) as neither:
        FetchWindow("1d")
    with pytest.raises(InvalidRequestError) as half:
        FetchWindow("1d", start=days_ago(5))

    assert both.value.field == "period"
    assert neither.value.field == "start"
    assert half.value.field == "end"


@pytest.mark.parametrize("days", [0, -3])
def test_end_must_be_after_start(days):
    with pytest.raises(InvalidRequestError) as caught:
        FetchWindow("1d", start=TODAY, end=TODAY + dt.timedelta(days=days))
    assert caught.value.field == "end"
    assert "exclusive" in caught.value.message


def test_parse_reads_iso_dates_and_names_a_bad_one():
    window = FetchWindow.parse("1d", start="2024-05-01", end=" 2024-05-08 ")

    assert (window.start, window.end) == (dt.date(2024, 5, 1), dt.date(2024, 5, 8))
    with pytest.raises(InvalidRequestError) as caught:
        FetchWindow.parse("1d", start="2024-05-01", end="08/05/2024")
    assert caught.value.field == "end"
    with pytest.raises(InvalidRequestError) as caught:
        FetchWindow.parse("1d", start=20240501, end="2024-05-08")
    assert caught.value.field == "start"


def test_datetimes_are_not_dates():
    with pytest.raises(InvalidRequestError) as caught:
        FetchWindow("1d", start=dt.datetime(2024, 5, 1), end=dt.date(2024, 5, 8))
    assert caught.value.field == "start"


# Case Y7: each refusal names the field and the limit in words, before any request.
@pytest.mark.parametrize(
    ("window", "field", "words"),
    [
        (FetchWindow("1m", period="1mo"), "period", "at most 7 days per request"),
        (FetchWindow("1h", period="max"), "period", "only for the last 730 days"),
        (FetchWindow("15m", period="6mo"), "period", "only for the last 60 days"),
        (FetchWindow("5m", period="max"), "period", "max is refused"),
        (FetchWindow("1h", period="2y"), "period", "only for the last 730 days"),
        (FetchWindow("90m", period="ytd"), "period", "only for the last 60 days"),
        (
            FetchWindow("1m", start=days_ago(9), end=days_ago(1)),
            "end",
            "at most 7 days per request",
        ),
        (
            FetchWindow("1m", start=days_ago(31), end=days_ago(28)),
            "start",
            "only for the last 30 days",
        ),
        (
            FetchWindow("2m", start=days_ago(61), end=days_ago(50)),
            "start",
            "only for the last 60 days",
        ),
        (
            FetchWindow("1h", start=days_ago(731), end=days_ago(700)),
            "start",
            "only for the last 730 days",
        ),
    ],
)
def test_y7_windows_past_yahoo_limits_are_refused(window, field, words):
    refused = refusal(window)

    assert refused.field == field
    assert words in refused.message


@pytest.mark.parametrize(
    "window",
    [
        FetchWindow("1m", period="1d"),
        FetchWindow("1m", period="5d"),
        FetchWindow("1m", start=days_ago(7), end=TODAY),
        FetchWindow("1m", start=days_ago(29), end=days_ago(22)),
        FetchWindow("15m", period="1mo"),
        FetchWindow("2m", start=days_ago(59), end=TODAY + dt.timedelta(days=1)),
        FetchWindow("1h", period="1y"),
        FetchWindow("1h", start=days_ago(729), end=TODAY),
        FetchWindow("1d", period="max"),
        FetchWindow("1wk", period="10y"),
        FetchWindow("1d", start=dt.date(1999, 1, 4), end=TODAY),
    ],
)
def test_windows_inside_the_limits_pass_unchanged(window):
    assert check_window(window, TODAY) is window


def test_a_window_starting_in_the_future_is_refused():
    window = FetchWindow(
        "1d", start=TODAY + dt.timedelta(days=1), end=TODAY + dt.timedelta(days=3)
    )

    assert refusal(window).field == "start"


def test_ytd_limit_depends_on_today():
    window = FetchWindow("15m", period="ytd")

    assert check_window(window, dt.date(2024, 2, 10)) is window
    with pytest.raises(InvalidRequestError):
        check_window(window, dt.date(2024, 3, 10))


@pytest.mark.parametrize(
    ("period", "first"),
    [
        ("1d", dt.date(2024, 3, 31)),
        ("5d", dt.date(2024, 3, 27)),
        ("1mo", dt.date(2024, 2, 29)),
        ("1y", dt.date(2023, 3, 31)),
        ("ytd", dt.date(2024, 1, 1)),
    ],
)
def test_period_start_counts_back_in_calendar_months(period, first):
    assert period_start(period, dt.date(2024, 3, 31)) == first
