"""How a run's symbols become mapped groups, and what every group shares."""

from __future__ import annotations

import datetime as dt
import json

from kabuflow.fetch_tasks import fetch_plan, group_window
from kabuflow.intervals import FetchWindow

YEAR = FetchWindow("1d", period="1y")
RECENT = FetchWindow("1d", start=dt.date(2022, 9, 12), end=dt.date(2022, 9, 17))


def test_one_window_groups_in_request_order_and_shares_the_rest():
    symbols = [f"{1300 + i}.T" for i in range(7)]

    plan = fetch_plan(5, {YEAR: symbols}, 3)

    assert plan["groups"] == [symbols[0:3], symbols[3:6], symbols[6:]]
    assert plan["run"] == {
        "batch_id": 5,
        "windows": [{"interval": "1d", "period": "1y", "start": None, "end": None}],
        "group_windows": None,
    }
    assert [group_window(plan["run"], i) for i in range(3)] == [
        plan["run"]["windows"][0]
    ] * 3


def test_groups_never_mix_windows_and_each_knows_its_own():
    plan = fetch_plan(
        None, {YEAR: ["7203.T", "6758.T", "9984.T"], RECENT: ["8306.T"]}, 2
    )

    assert plan["groups"] == [["7203.T", "6758.T"], ["9984.T"], ["8306.T"]]
    assert plan["run"]["group_windows"] == [0, 0, 1]
    assert group_window(plan["run"], 2)["start"] == "2022-09-12"
    assert group_window(plan["run"], 1)["period"] == "1y"


def test_the_mapped_list_holds_symbols_only():
    # Every mapped instance reads the whole list: per stock, 4,000 reads of 4,000.
    symbols = [f"{1000 + i}.T" for i in range(4000)]

    groups = fetch_plan(12345, {YEAR: symbols}, 1)["groups"]

    assert len(json.dumps(groups)) <= 4000 * len(json.dumps([["1000.T"]]) + ", ")


def test_no_symbol_no_group():
    assert fetch_plan(1, {}, 50) == {
        "run": {"batch_id": 1, "windows": [], "group_windows": None},
        "groups": [],
    }
