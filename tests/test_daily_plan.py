"""The daily run's plan: each stock's window, counted in Tokyo sessions."""

from __future__ import annotations

import datetime as dt

from kabuflow.daily_plan import plan_windows, target_session
from kabuflow.intervals import FetchWindow

FRIDAY = dt.date(2022, 9, 16)


def test_a_stock_resumes_three_sessions_back_across_golden_week():
    # 2022-04-29 and 05-03..05-05 were holidays: the last three sessions up to
    # 05-06 are 04-28, 05-02 and 05-06.
    plan = plan_windows(["7203.T"], {"7203.T": dt.date(2022, 5, 6)}, FRIDAY)

    assert plan == {
        FetchWindow("1d", start=dt.date(2022, 4, 28), end=dt.date(2022, 9, 17)): [
            "7203.T"
        ]
    }


def test_stocks_sharing_a_window_are_planned_together():
    last = {"7203.T": dt.date(2022, 9, 9), "6758.T": dt.date(2022, 9, 9)}

    plan = plan_windows(["7203.T", "6758.T", "9984.T"], last, FRIDAY)

    assert plan == {
        FetchWindow("1d", start=dt.date(2022, 9, 7), end=dt.date(2022, 9, 17)): [
            "7203.T",
            "6758.T",
        ],
        FetchWindow("1d", period="1y"): ["9984.T"],
    }


def test_an_up_to_date_stock_still_gets_its_recent_sessions_again():
    plan = plan_windows(["7203.T"], {"7203.T": FRIDAY}, FRIDAY)

    assert list(plan) == [
        FetchWindow("1d", start=dt.date(2022, 9, 14), end=dt.date(2022, 9, 17))
    ]


def test_the_target_is_the_tokyo_date_of_the_run_if_it_holds_a_session():
    # 08:00 UTC is 17:00 in Tokyo; 16:00 UTC on Friday is already Saturday there.
    assert target_session(dt.datetime(2022, 9, 16, 8, tzinfo=dt.UTC)) == FRIDAY
    assert target_session(dt.datetime(2022, 9, 16, 16, tzinfo=dt.UTC)) is None
    assert target_session(dt.datetime(2022, 9, 19, 8, tzinfo=dt.UTC)) is None
