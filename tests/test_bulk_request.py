"""The bulk request check that the REST API and the `bulk_fetch` DAG share."""

from __future__ import annotations

import datetime as dt

import pytest
from request_cases import MALFORMED_REQUESTS

from kabuflow.bulk_request import parse_bulk_request
from kabuflow.errors import InvalidRequestError

TODAY = dt.date(2024, 4, 10)


def parse(raw, **kwargs):
    return parse_bulk_request(raw, today=TODAY, **kwargs)


def field_of(raw, **kwargs) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        parse(raw, **kwargs)
    return caught.value.field


def test_normalizes_symbols_window_and_defaults():
    request = parse(
        {
            "symbols": ["130A.T", "285a.t", "7203.t", " 7203.T ", "7203", "aapl"],
            "interval": "60m",
            "period": "1mo",
            "unknown": "ignored",
        }
    )

    assert request.symbols == ("130A.T", "285A.T", "7203.T", "AAPL")
    assert request.window.interval == "1h"
    assert request.window.period == "1mo"
    assert request.batch_id is None
    assert request.symbols_per_task == 1


def test_start_and_end_become_dates():
    request = parse(
        {
            "symbols": ["7203.T"],
            "interval": "1d",
            "start": "2024-01-04",
            "end": "2024-02-01",
        }
    )

    assert (request.window.start, request.window.end) == (
        dt.date(2024, 1, 4),
        dt.date(2024, 2, 1),
    )
    assert request.window.period is None


def test_conf_round_trips_through_the_check():
    request = parse(
        {
            "symbols": ["7203", "6758.T"],
            "interval": "1d",
            "start": "2024-01-04",
            "end": "2024-02-01",
            "batch_id": 12,
            "symbols_per_task": 50,
        }
    )

    conf = request.to_conf()

    assert conf == {
        "symbols": ["7203.T", "6758.T"],
        "interval": "1d",
        "period": None,
        "start": "2024-01-04",
        "end": "2024-02-01",
        "batch_id": 12,
        "symbols_per_task": 50,
    }
    assert parse(conf) == request


def test_groups_cut_symbols_in_order():
    symbols = [f"{code}.T" for code in range(1301, 1308)]
    request = parse(
        {"symbols": symbols, "interval": "1d", "period": "5d", "symbols_per_task": 3}
    )

    assert request.groups() == [symbols[0:3], symbols[3:6], symbols[6:7]]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        *MALFORMED_REQUESTS,
        ({"interval": "1d", "period": "1y"}, "symbols"),
        ({"symbols": ["7203.T", " "], "interval": "1d", "period": "1y"}, "symbols"),
        ({"symbols": ["7203.T"], "interval": "1d"}, "period"),
        ({"symbols": ["7203.T"], "interval": "1d", "start": "2024-01-04"}, "end"),
        (
            {
                "symbols": ["7203.T"],
                "interval": "1d",
                "period": "1y",
                "end": "2024-02-01",
            },
            "period",
        ),
        (
            {
                "symbols": ["7203.T"],
                "interval": "1d",
                "start": "04/01/2024",
                "end": "x",
            },
            "start",
        ),
        (
            {
                "symbols": ["7203.T"],
                "interval": "1d",
                "start": "2024-02-01",
                "end": "2024-02-01",
            },
            "end",
        ),
        (
            {"symbols": ["7203.T"], "interval": "1d", "period": "1y", "batch_id": 0},
            "batch_id",
        ),
        (
            {"symbols": ["7203.T"], "interval": "1d", "period": "1y", "batch_id": "3"},
            "batch_id",
        ),
        (
            {"symbols": ["7203.T"], "interval": "1d", "period": "1y", "batch_id": True},
            "batch_id",
        ),
        (
            {
                "symbols": ["7203.T"],
                "interval": "1d",
                "period": "1y",
                "symbols_per_task": 501,
            },
            "symbols_per_task",
        ),
        (
            {
                "symbols": ["7203.T"],
                "interval": "1d",
                "period": "1y",
                "symbols_per_task": 0,
            },
            "symbols_per_task",
        ),
        (
            {
                "symbols": ["7203.T"],
                "interval": "1d",
                "period": "1y",
                "symbols_per_task": 2.5,
            },
            "symbols_per_task",
        ),
    ],
)
def test_refusals_name_the_field(raw, field):
    assert field_of(raw) == field


@pytest.mark.parametrize(
    ("window", "field"),
    [
        # Case Y7: Yahoo's intraday limits are refused before anything is triggered.
        ({"interval": "1m", "period": "1mo"}, "period"),
        ({"interval": "1h", "period": "max"}, "period"),
        ({"interval": "15m", "period": "6mo"}, "period"),
        ({"interval": "5m", "start": "2023-01-04", "end": "2023-01-05"}, "start"),
        ({"interval": "1d", "start": "2024-05-01", "end": "2024-06-01"}, "start"),
    ],
)
def test_windows_yahoo_cannot_serve_are_refused(window, field):
    assert field_of({"symbols": ["7203.T"], **window}) == field


def test_symbol_limit_counts_the_list_as_sent():
    symbols = [f"{code}.T" for code in range(1301, 1311)]

    assert (
        len(
            parse(
                {"symbols": symbols, "interval": "1d", "period": "1y"}, max_symbols=10
            ).symbols
        )
        == 10
    )
    assert (
        field_of(
            {"symbols": symbols + ["1311.T"], "interval": "1d", "period": "1y"},
            max_symbols=10,
        )
        == "symbols"
    )


def test_symbol_limit_defaults_to_the_setting(monkeypatch):
    monkeypatch.setenv("KABUFLOW_MAX_SYMBOLS", "2")

    raw = {"symbols": ["7203.T", "6758.T", "9984.T"], "interval": "1d", "period": "1y"}

    assert field_of(raw) == "symbols"


def test_a_body_that_is_not_an_object_is_refused():
    assert field_of(["7203.T"]) == "body"
    assert field_of(None) == "body"
