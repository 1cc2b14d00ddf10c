"""The stock fetch pipeline through yfinance, the replay server and the database."""

from __future__ import annotations

import datetime as dt

import pytest

from kabuflow.errors import UnknownSymbolError
from kabuflow.intervals import FetchWindow
from kabuflow.pipeline import fetch_group, fetch_symbol
from kabuflow.replay import ReplayServer
from kabuflow.source import YahooSource
from kabuflow.store import PriceStore

# The replay server's clock: the day after its last bar (Friday 2022-09-16).
NOW = dt.datetime(2022, 9, 17, tzinfo=dt.UTC)
SPLIT_DAY = dt.date(2022, 9, 1)


def window(start: str, end: str) -> FetchWindow:
    return FetchWindow.parse("1d", start=start, end=end)


@pytest.fixture(scope="module")
def replay():
    server = ReplayServer(now=NOW.isoformat())
    with server.running():
        yield server


@pytest.fixture
def source(replay):
    replay.set_scenario({})
    with YahooSource(base_url=replay.url) as yahoo:
        yield yahoo
    replay.set_scenario({})


@pytest.fixture
def store(db):
    return PriceStore(db)


def fetch(symbol, window, source, store):
    return fetch_symbol(symbol, window, source=source, store=store, now=NOW)


def closes(conn, symbol: str) -> dict[dt.date, float]:
    rows = conn.execute(
        "SELECT date, close FROM daily_prices WHERE symbol = %s AND interval = '1d'",
        (symbol,),
    ).fetchall()
    return dict(rows)


def test_a_new_split_makes_the_pipeline_refetch_the_whole_history(
    replay, source, store, conn
):
    # Case Y8: the first load, then the same history re-served after a 5-for-1 split.
    first = fetch("7203.T", window("2022-06-01", "2022-09-17"), source, store)
    before = closes(conn, "7203.T")
    replay.set_scenario({"split": {"7203.T": [{"date": "2022-09-01", "ratio": 5}]}})

    recent = fetch("7203.T", window("2022-08-29", "2022-09-17"), source, store)

    assert not first.history_refetched
    assert recent.new_actions >= 1
    assert recent.history_refetched
    after = closes(conn, "7203.T")
    # Bars outside the recent window were rewritten, not only appended to.
    assert after[dt.date(2022, 6, 1)] == pytest.approx(before[dt.date(2022, 6, 1)] / 5)
    assert after[dt.date(2022, 9, 16)] == pytest.approx(before[dt.date(2022, 9, 16)])
    assert recent.updated >= len([day for day in before if day < SPLIT_DAY])
    # The whole history is stored now, back to 1999.
    assert min(after) == dt.date(1999, 5, 6)
    assert recent.inserted == len(after) - len(before)
    split = conn.execute(
        "SELECT value FROM corporate_actions"
        " WHERE symbol = '7203.T' AND kind = 'split' AND date = %s",
        (SPLIT_DAY,),
    ).fetchone()
    assert split == (5.0,)


def test_without_a_new_action_nothing_is_refetched(source, store, conn):
    span = window("2022-06-01", "2022-09-17")
    fetch("7203.T", span, source, store)

    again = fetch("7203.T", span, source, store)

    assert not again.history_refetched
    assert (again.inserted, again.updated) == (0, 0)
    assert again.unchanged == len(closes(conn, "7203.T"))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2022-09-10", "2022-09-12"),  # a weekend
        ("2022-08-11", "2022-08-12"),  # Mountain Day, a Thursday
    ],
)
def test_a_window_without_a_session_is_no_data_expected(
    replay, source, store, conn, start, end
):
    asked_before = replay.state.stats()["requests"]

    outcome = fetch("7203.T", window(start, end), source, store)

    assert outcome.no_data_expected
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (0, 0, 0)
    assert closes(conn, "7203.T") == {}
    assert replay.state.stats()["requests"] == asked_before, "Yahoo was not asked"


def test_one_failing_symbol_never_takes_its_siblings_down(source, store, conn):
    reported = []

    group = fetch_group(
        ["7203.T", "9999.T", "6758.T"],
        window("2022-08-01", "2022-09-01"),
        source=source,
        store=store,
        now=NOW,
        report=lambda symbol, result: reported.append((symbol, type(result).__name__)),
    )

    assert sorted(group.outcomes) == ["6758.T", "7203.T"]
    assert isinstance(group.errors["9999.T"], UnknownSymbolError)
    assert reported == [
        ("7203.T", "SymbolOutcome"),
        ("9999.T", "UnknownSymbolError"),
        ("6758.T", "SymbolOutcome"),
    ]
    assert len(closes(conn, "6758.T")) == 22


def test_the_fetch_command_stores_one_symbol_and_reports_counts(
    replay, db, conn, monkeypatch, capsys
):
    from kabuflow.cli import main

    monkeypatch.setenv("KABUFLOW_YAHOO_URL", replay.url)
    argv = ["fetch", "7203", "--interval", "1d", "--start", "2022-08-01"]
    argv += ["--end", "2022-09-01"]

    first = main(argv)
    first_out = capsys.readouterr().out
    again = main(argv)

    assert (first, again) == (0, 0)
    assert first_out == "7203.T 1d: inserted 22, updated 0, unchanged 0\n"
    assert capsys.readouterr().out == "7203.T 1d: inserted 0, updated 0, unchanged 22\n"
    assert len(closes(conn, "7203.T")) == 22


def test_the_fetch_command_refuses_a_window_yahoo_cannot_serve(db, capsys):
    from kabuflow.cli import main

    code = main(["fetch", "7203.T", "--interval", "1m", "--period", "1mo"])

    assert code == 1
    assert "period" in capsys.readouterr().err
