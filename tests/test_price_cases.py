"""Cases Y1-Y10 and D1 end to end: the replay server, yfinance's own code, the
pipeline (or a fetch task's body) and the real PostgreSQL.

Each case also has narrower tests beside the module it concerns (test_source,
test_normalize, test_store, test_symbols, test_calendars, test_intervals); here it
runs the way a fetch runs in production. Expected values come from the sample files,
read independently of the replay server's reader.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yfinance

from kabuflow import calendars
from kabuflow.batches import BatchService
from kabuflow.bulk_request import parse_bulk_request
from kabuflow.errors import (
    InvalidRequestError,
    MissingColumnError,
    PermanentError,
    TimezoneLookupError,
)
from kabuflow.fetch_tasks import (
    FETCH_RETRIES,
    GroupFailedError,
    GroupRetryError,
    fetch_open_symbols,
    fetch_plan,
    group_window,
)
from kabuflow.intervals import FetchWindow
from kabuflow.pipeline import fetch_group, fetch_symbol
from kabuflow.replay import ReplayServer, load_store
from kabuflow.replay.server import SAMPLE_DIR, SAMPLE_SOURCES
from kabuflow.run_record import GroupProgress
from kabuflow.source import HISTORY_OPTIONS, YahooSource
from kabuflow.store import PriceStore

# The replay server's default clock: 00:00 UTC the day after its last bar.
NOW = dt.datetime(2022, 9, 17, tzinfo=dt.UTC)
TOYOTA_CSV = SAMPLE_DIR / "tse_full_history" / "7203.T.csv"
UNADJUSTED = SAMPLE_DIR / "tse_unadjusted_2016_2020"
PRICES = ("open", "high", "low", "close", "adj_close")
WEEKDAY_WINDOW = ("2022-09-05", "2022-09-10")
WEEKEND_WINDOW = ("2022-09-10", "2022-09-12")


def window(start: str, end: str, interval: str = "1d") -> FetchWindow:
    return FetchWindow.parse(interval, start=start, end=end)


@pytest.fixture(scope="module")
def replay():
    server = ReplayServer(store=load_store(SAMPLE_SOURCES))
    with server.running():
        yield server


@pytest.fixture(autouse=True)
def clean_replay(request):
    if "replay" in request.fixturenames:
        server = request.getfixturevalue("replay")
        server.set_scenario({})
        server.state.reset_stats()


@pytest.fixture
def source(replay):
    with YahooSource(base_url=replay.url, timeout=10) as yahoo:
        yield yahoo


@pytest.fixture
def store(db):
    return PriceStore(db)


@pytest.fixture
def batches(db, monkeypatch, replay):
    """The batch record, with fetch tasks' sources pointed at the replay server."""
    monkeypatch.setenv("KABUFLOW_YAHOO_URL", replay.url)
    return BatchService(db)


def stored(conn, symbol: str, interval: str = "1d") -> dict[dt.date, tuple]:
    rows = conn.execute(
        "SELECT date, open, high, low, close, adj_close, volume, is_final"
        " FROM daily_prices WHERE symbol = %s AND interval = %s ORDER BY date",
        (symbol, interval),
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def sample_rows(symbol: str) -> pd.DataFrame:
    frame = pd.read_parquet(
        SAMPLE_DIR / "tse_daily_sample.parquet", filters=[("symbol", "==", symbol)]
    )
    return frame.set_index("date")


def csv_rows(path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def plan_groups(batch_id, request, size: int) -> list[dict]:
    """The groups `bulk_fetch` maps for `request`, each with its window's fields."""
    plan = fetch_plan(batch_id, {request.window: list(request.symbols)}, size)
    return [
        {"symbols": symbols, "window": group_window(plan["run"], index)}
        for index, symbols in enumerate(plan["groups"])
    ]


def run_attempt(batches, batch_id, group: dict, attempt: int) -> Exception | None:
    """Run one attempt of a fetch task's body on `group`; return what it raised."""
    progress = GroupProgress(batches, batch_id, group["symbols"], attempt=attempt)
    try:
        fetch_open_symbols(progress, group["window"])
    except (GroupRetryError, GroupFailedError) as err:
        return err
    return None


def details(batches, batch_id) -> dict[str, object]:
    return {row.stock_code: row for row in batches.get_batch_details(batch_id)}


def unsound(row: pd.Series) -> bool:
    """Whether a recorded bar cannot be stored as it is: a price or volume missing,
    or an OHLC invariant broken."""
    values = row[["open", "high", "low", "close", "volume"]]
    if values.isna().any():
        return True
    low, high = row["low"], row["high"]
    body = (row["open"], row["close"])
    return bool(low > min(body) or high < max(body))


# --- Y1 -----------------------------------------------------------------------------


def test_y1_a_throttled_batch_of_300_ends_with_every_stock_stored(
    replay, batches, conn
):
    """Y1: 300 Tokyo symbols, 1d over 1y, chart requests 41-120 answered 429.

    The fetch task's own body runs each group of 10 symbols; Airflow's part, the
    `yahoo` pool and retries of the failed attempts, is played by rounds of attempts
    on four workers (its backoff timing is Airflow's and not replayed here). A
    throttled stock is never recorded as a success, let alone one with 0 rows.
    """
    symbols = sorted(s for s in replay.store.symbols() if s.endswith(".T"))
    assert len(symbols) == 300
    request = parse_bulk_request({"symbols": symbols, "interval": "1d", "period": "1y"})
    batch_id = batches.create_batch("bulk_fetch", symbols=request.symbols)
    groups = plan_groups(batch_id, request, 10)
    replay.set_scenario({"rate_limit": {"requests": [[41, 120]]}})

    attempt, pending, throttled_after_first = 1, groups, None
    while pending and attempt <= FETCH_RETRIES + 1:
        with ThreadPoolExecutor(max_workers=4) as pool:
            attempt_group = functools.partial(
                run_attempt, batches, batch_id, attempt=attempt
            )
            raised = list(pool.map(attempt_group, pending))
        assert not any(isinstance(err, GroupFailedError) for err in raised)
        pending = [g for g, err in zip(pending, raised, strict=True) if err]
        if attempt == 1:
            open_rows = batches.get_batch_details(batch_id, status="pending")
            throttled_after_first = {row.stock_code for row in open_rows}
        attempt += 1

    assert pending == []
    assert replay.state.stats()["by_status"]["429"] == 80
    assert 20 <= len(throttled_after_first) <= 80
    rows = details(batches, batch_id)
    assert {row.status for row in rows.values()} == {"success"}
    assert all(rows[s].attempts == 2 for s in throttled_after_first)
    for symbol in symbols:
        got = stored(conn, symbol)
        assert rows[symbol].records_inserted == len(got) > 0, symbol
        recorded = sample_rows(symbol)
        recorded = recorded[recorded.index >= dt.date(2021, 9, 17)]
        assert set(got) <= set(recorded.index), symbol
        skipped = recorded.loc[sorted(set(recorded.index) - set(got))]
        assert all(unsound(row) for _, row in skipped.iterrows()), symbol
        assert [bar[3] for bar in got.values()] == recorded.loc[
            list(got), "close"
        ].tolist()
    batch = batches.get_batch(batch_id)
    assert (batch.successful_stocks, batch.failed_stocks) == (300, 0)


# --- Y2 -----------------------------------------------------------------------------

Y2_SYMBOLS = ["7203.T", "9999999.T", "AAPL"]


def test_y2_a_weekend_window_expects_no_data_for_every_symbol(
    replay, source, store, conn
):
    """Y2: no session in the window is "no data expected", not an error."""
    group = fetch_group(
        Y2_SYMBOLS, window(*WEEKEND_WINDOW), source=source, store=store, now=NOW
    )

    assert group.errors == {}
    assert all(outcome.no_data_expected for outcome in group.outcomes.values())
    assert replay.state.stats()["requests"] == 0
    assert conn.execute("SELECT count(*) FROM daily_prices").fetchone() == (0,)


def test_y2_each_symbol_gets_its_own_reason_and_unknown_fails_without_retry(
    batches, conn
):
    """Y2: on weekdays the unknown symbols fail at once for good; 7203.T is stored.

    The replay server holds no AAPL: to it, AAPL is as unknown as 9999999.T.
    """
    raw = {"symbols": Y2_SYMBOLS, "interval": "1d"}
    request = parse_bulk_request(
        {**raw, "start": WEEKDAY_WINDOW[0], "end": WEEKDAY_WINDOW[1]}
    )
    batch_id = batches.create_batch("bulk_fetch", symbols=request.symbols)
    [group] = plan_groups(batch_id, request, 3)

    raised = run_attempt(batches, batch_id, group, attempt=1)

    assert isinstance(raised, GroupFailedError) and isinstance(raised, PermanentError)
    rows = details(batches, batch_id)
    assert rows["7203.T"].status == "success" and rows["7203.T"].records_inserted == 5
    for symbol in ("9999999.T", "AAPL"):
        assert rows[symbol].status == "failed"
        assert rows[symbol].error_message.startswith("unknown_symbol: ")
        assert rows[symbol].attempts == 1
    assert len(stored(conn, "7203.T")) == 5


@pytest.mark.parametrize(
    ("interval", "period", "limit"),
    [
        ("1m", "1mo", "at most 7 days per request"),
        ("1h", "max", "only for the last 730 days"),
        ("15m", "6mo", "only for the last 60 days"),
    ],
)
def test_y2_y7_a_range_yahoo_refuses_is_rejected_before_any_request(
    replay, source, store, conn, interval, period, limit
):
    """Y2, Y7: the limit is named up front; nothing is asked, nothing stored."""
    with pytest.raises(InvalidRequestError) as refused:
        fetch_symbol(
            "7203.T", FetchWindow(interval, period=period), source=source, store=store
        )

    assert refused.value.field == "period"
    assert limit in refused.value.message
    assert replay.state.stats()["requests"] == 0
    assert conn.execute("SELECT count(*) FROM intraday_prices").fetchone() == (0,)


# --- Y3 -----------------------------------------------------------------------------


def test_y3_a_failing_timezone_lookup_fails_that_stock_alone_and_it_can_be_retried(
    replay, source, store, conn
):
    """Y3: the lookup for 6758.T fails: it fails with that reason, 7203.T is stored,
    and fetching 6758.T again on its own stores it."""
    span = window("2022-08-01", "2022-09-01")
    replay.set_scenario({"tz_failure": ["6758.T"]})

    first = fetch_group(["6758.T", "7203.T"], span, source=source, store=store, now=NOW)
    replay.set_scenario({})
    toyota = stored(conn, "7203.T")
    again = fetch_group(["6758.T"], span, source=source, store=store, now=NOW)

    assert isinstance(first.errors["6758.T"], TimezoneLookupError)
    assert first.errors["6758.T"].reason == "timezone_lookup_failed"
    assert first.outcomes["7203.T"].inserted == len(toyota) == 22
    assert again.errors == {} and again.outcomes["6758.T"].inserted == 22
    closes = sample_rows("6758.T")["close"]
    assert [bar[3] for bar in stored(conn, "6758.T").values()] == [
        closes[day] for day in stored(conn, "6758.T")
    ]
    assert stored(conn, "7203.T") == toyota


# --- Y4 -----------------------------------------------------------------------------


def test_y4_auto_adjust_and_actions_are_passed_and_raw_and_adjusted_stay_apart(
    source, store, conn, monkeypatch
):
    """Y4: `9984.T` `1d` `5y`; yfinance is told `auto_adjust` and `actions` every
    time, and the close and the adjusted close land in their own columns."""
    calls = []
    history = yfinance.Ticker.history

    def spy(ticker, *args, **kwargs):
        calls.append(kwargs)
        return history(ticker, *args, **kwargs)

    monkeypatch.setattr(yfinance.Ticker, "history", spy)

    outcome = fetch_symbol(
        "9984.T", FetchWindow("1d", period="5y"), source=source, store=store, now=NOW
    )

    assert calls and all(
        (call["auto_adjust"], call["actions"]) == (False, True) for call in calls
    )
    assert {"auto_adjust", "actions"} <= set(HISTORY_OPTIONS)
    got = stored(conn, "9984.T")
    recorded = sample_rows("9984.T")
    assert outcome.inserted == len(got) == len(recorded)
    # The sample holds adjusted prices only: Yahoo's adjusted close is its close.
    assert [bar[3] for bar in got.values()] == recorded["close"].tolist()
    assert [bar[4] for bar in got.values()] == recorded["close"].tolist()
    # Raw and adjusted apart where they differ: TM in the unadjusted set.
    fetch_symbol("TM", window("2016-06-01", "2016-06-04"), source=source, store=store)
    tm = stored(conn, "TM")
    assert all(bar[4] < bar[3] for bar in tm.values()) and len(tm) == 3


def test_y4_an_adjusted_close_that_vanished_is_an_error_not_a_null(
    source, store, conn, monkeypatch
):
    """Y4: a yfinance that replaced raw prices by adjusted ones (no `Adj Close`)
    stops the symbol with `MissingColumnError`; nothing is stored."""
    history = yfinance.Ticker.history

    def changed_default(ticker, *args, **kwargs):
        return history(ticker, *args, **kwargs).drop(columns=["Adj Close"])

    monkeypatch.setattr(yfinance.Ticker, "history", changed_default)

    with pytest.raises(MissingColumnError) as missing:
        fetch_symbol(
            "9984.T", FetchWindow("1d", period="5y"), source=source, store=store
        )

    assert missing.value.columns == ["Adj Close"]
    assert conn.execute("SELECT count(*) FROM daily_prices").fetchone() == (0,)


# --- Y5 and D1 ----------------------------------------------------------------------


def test_y5_duplicates_collapse_and_nan_prices_are_never_written(
    replay, source, store, conn
):
    """Y5: 7203.T sends 2022-09-14 twice; 6758.T sends a row of null prices with a
    volume on 2022-09-15. Each symbol is cleaned on its own."""
    replay.set_scenario(
        {
            "repeat_bar": {"7203.T": ["2022-09-14"]},
            "nan_row": {"6758.T": [{"date": "2022-09-15", "volume": 120000}]},
        }
    )
    span = window("2022-09-12", "2022-09-17")

    group = fetch_group(["7203.T", "6758.T"], span, source=source, store=store, now=NOW)

    assert group.errors == {}
    toyota, sony = group.outcomes["7203.T"], group.outcomes["6758.T"]
    assert (toyota.inserted, toyota.rejected) == (5, 0)
    assert (sony.inserted, sony.rejected) == (4, 1)
    assert dt.date(2022, 9, 15) not in stored(conn, "6758.T")
    recorded = {r["Date"]: r for r in csv_rows(TOYOTA_CSV)}
    assert [bar[3] for day, bar in stored(conn, "7203.T").items()] == [
        float(recorded[day.isoformat()]["Close"]) for day in stored(conn, "7203.T")
    ]
    nan_or_zero = conn.execute(
        "SELECT count(*) FROM daily_prices WHERE 'NaN' IN (open, high, low, close)"
        " OR 0 IN (open, high, low, close) OR adj_close = 'NaN'"
    ).fetchone()
    assert nan_or_zero == (0,)


def test_d1_a_repeated_symbol_and_a_repeated_bar_are_stored_once(replay, batches, conn):
    """D1: `["7203.T","7203.T"]` and a response repeating a timestamp: duplicates go
    before the statement, the batch does not fail, the symbol counts once."""
    replay.set_scenario({"repeat_bar": {"7203.T": ["2022-09-14"]}})
    raw = {"symbols": ["7203.T", "7203.T"], "interval": "1d"}
    request = parse_bulk_request({**raw, "start": "2022-09-12", "end": "2022-09-17"})
    batch_id = batches.create_batch("bulk_fetch", symbols=request.symbols)
    [group] = plan_groups(batch_id, request, 50)

    raised = run_attempt(batches, batch_id, group, attempt=1)

    assert raised is None
    assert list(request.symbols) == ["7203.T"]
    assert batches.get_batch(batch_id).total_stocks == 1
    assert details(batches, batch_id)["7203.T"].records_inserted == 5
    counts = conn.execute(
        "SELECT count(*), count(DISTINCT date) FROM daily_prices"
    ).fetchone()
    assert counts == (5, 5)


# --- Y6 -----------------------------------------------------------------------------

MID_SESSION = "2022-09-16T01:32:00Z"  # 10:32 in Tokyo
AFTER_CLOSE = "2022-09-16T06:10:00Z"  # 15:10 in Tokyo
TOKYO = ZoneInfo("Asia/Tokyo")


def five_minute_bars(until: dt.time) -> list[dict]:
    """5m bars of 2022-09-16 in Tokyo's two sessions, starting before `until`."""
    starts = [
        dt.datetime.combine(dt.date(2022, 9, 16), dt.time(h, m), TOKYO)
        for h, m in [(9, 0), (12, 30)]
    ]
    bars, price = [], 1980.0
    for first, count in zip(starts, (30, 30), strict=True):
        for step in range(count):
            start = first + dt.timedelta(minutes=5 * step)
            if start.time() >= until:
                return bars
            bars.append(
                {
                    "time": start.isoformat(),
                    "open": price,
                    "high": price + 4,
                    "low": price - 3,
                    "close": price + 1,
                    "volume": 10000 + step,
                }
            )
            price += 1
    return bars


def test_y6_the_open_bar_is_not_final_and_the_run_after_the_close_replaces_it(
    replay, source, store, conn
):
    """Y6: `7203.T` `5m` `1d` fetched mid-session, then after the close."""
    asked = FetchWindow("5m", period="1d")
    early = five_minute_bars(until=dt.time(10, 35))
    # The 10:30 bar is two minutes old: its prices so far.
    early[-1] = {**early[-1], "high": early[-1]["open"] + 1, "volume": 800}
    replay.set_scenario({"now": MID_SESSION, "intraday": {"7203.T": {"5m": early}}})
    mid = dt.datetime.fromisoformat(MID_SESSION)

    first = fetch_symbol("7203.T", asked, source=source, store=store, now=mid)
    open_bar = intraday(conn, "7203.T")[-1]

    late = five_minute_bars(until=dt.time(15, 0))
    late[40] = {**late[40], "low": late[40]["open"] + 2}  # low above open: refused
    replay.set_scenario({"now": AFTER_CLOSE, "intraday": {"7203.T": {"5m": late}}})
    after = dt.datetime.fromisoformat(AFTER_CLOSE)
    second = fetch_symbol("7203.T", asked, source=source, store=store, now=after)

    assert first.inserted == len(early) == 19
    assert open_bar[0] == dt.datetime(2022, 9, 16, 1, 30, tzinfo=dt.UTC)
    assert (open_bar[2], open_bar[6], open_bar[7]) == (early[-1]["high"], 800, False)
    assert second.rejected == 1 and second.updated == 1
    bars = intraday(conn, "7203.T")
    assert len(bars) == len(late) - 1
    replaced = bars[18]
    assert replaced[0] == open_bar[0]
    assert (replaced[2], replaced[6], replaced[7]) == (late[18]["high"], 10018, True)
    assert all(bar[7] for bar in bars)
    broken = conn.execute(
        "SELECT count(*) FROM intraday_prices WHERE low > least(open, close)"
        " OR high < greatest(open, close) OR low > high OR volume < 0"
    ).fetchone()
    assert broken == (0,)


def intraday(conn, symbol: str) -> list[tuple]:
    return conn.execute(
        "SELECT bar_start, open, high, low, close, adj_close, volume, is_final"
        " FROM intraday_prices WHERE symbol = %s ORDER BY bar_start",
        (symbol,),
    ).fetchall()


# --- Y8: Toyota's 2021 split ------------------------------------------------------

SPLIT_DAY = dt.date(2021, 9, 29)
# The evening before the split took effect; Tokyo closed at 06:00 UTC.
BEFORE_SPLIT = "2021-09-28T07:00:00Z"


def test_y8_toyota_stored_before_the_2021_split_is_rewritten_after_it(
    replay, source, store, conn
):
    """Y8: Toyota's whole daily history as Yahoo served it on 2021-09-28, then a
    daily run after the 5-for-1 split: every stored bar is rewritten to the
    split-adjusted values, the split is recorded, and no row is duplicated.

    The recorded history carries the split; the server undoes it (a "split" of
    1/5 on 2021-09-29, hidden behind its clock) to serve the history of that day.
    """
    replay.set_scenario(
        {
            "now": BEFORE_SPLIT,
            "split": {"7203.T": [{"date": SPLIT_DAY.isoformat(), "ratio": 0.2}]},
        }
    )
    then = dt.datetime.fromisoformat(BEFORE_SPLIT)
    everything = FetchWindow("1d", period="max")
    first = fetch_symbol("7203.T", everything, source=source, store=store, now=then)
    before = stored(conn, "7203.T")
    replay.set_scenario({})

    daily = fetch_symbol(
        "7203.T",
        window("2021-09-27", "2021-10-09"),
        source=source,
        store=store,
        now=NOW,
    )

    recorded = csv_rows(TOYOTA_CSV)
    old = [r for r in recorded if r["Date"] < SPLIT_DAY.isoformat()]
    assert first.inserted == len(before) == len(old)
    assert before[dt.date(2021, 9, 28)][3] == pytest.approx(
        5 * float(old[-1]["Close"]), rel=1e-12
    )
    assert daily.new_actions >= 1 and daily.history_refetched
    assert daily.updated == len(old)
    assert daily.inserted == len(recorded) - len(old)
    after = stored(conn, "7203.T")
    assert [day.isoformat() for day in after] == [r["Date"] for r in recorded]
    for name, position in [("Open", 0), ("High", 1), ("Low", 2), ("Close", 3)]:
        assert [bar[position] for bar in after.values()] == [
            float(r[name]) for r in recorded
        ], name
    assert [bar[4] for bar in after.values()] == [float(r["Close"]) for r in recorded]
    assert [bar[5] for bar in after.values()] == [int(r["Volume"]) for r in recorded]
    counts = conn.execute(
        "SELECT count(*), count(DISTINCT date) FROM daily_prices"
        " WHERE symbol = '7203.T'"
    ).fetchone()
    assert counts == (len(recorded), len(recorded))
    split = conn.execute(
        "SELECT value FROM corporate_actions"
        " WHERE symbol = '7203.T' AND kind = 'split' AND date = %s",
        (SPLIT_DAY,),
    ).fetchone()
    assert split == (5.0,)


# --- precision: the unadjusted set round-trips with every digit ----------------------


@pytest.mark.parametrize("symbol", ["JPYUSD=X", "TM"])
def test_every_digit_of_the_unadjusted_set_survives_the_round_trip(
    source, store, conn, symbol
):
    """JPYUSD=X (near 0.0083) and TM, raw and adjusted, through yfinance into the
    DOUBLE PRECISION columns: each stored value prints as the file's text."""
    zone = ZoneInfo("Europe/London" if symbol.endswith("=X") else "America/New_York")

    fetch_symbol(symbol, FetchWindow("1d", period="max"), source=source, store=store)

    rows = csv_rows(UNADJUSTED / f"{symbol}.csv")
    got = stored(conn, symbol)
    assert len(got) == len(rows)
    for (day, bar), row in zip(got.items(), rows, strict=True):
        # The files hold the UTC date of Yahoo's stamp, local midnight.
        stamp = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
        assert stamp.date().isoformat() == row["Date"]
        texts = [row[name] for name in ("Open", "High", "Low", "Close", "Adj Close")]
        assert [repr(value) for value in bar[:5]] == texts, day
        assert bar[5] == int(float(row["Volume"]))


# --- Y9 -----------------------------------------------------------------------------


def test_y9_codes_with_letters_stay_text_from_request_to_table(tmp_path, db, conn):
    """Y9: `130A.T` and `285A.T` travel as text; `7203.t`, ` 7203.T ` and `7203`
    become one `7203.T`. The replay serves real Toyota bars under the new codes."""
    toyota = TOYOTA_CSV.read_text().splitlines()
    days = [line for line in toyota[1:] if line.startswith("2022-09-1")]
    for code in ("130A.T", "285A.T"):
        (tmp_path / f"{code}.csv").write_text("\n".join([toyota[0], *days]) + "\n")
    server = ReplayServer(data=[tmp_path, TOYOTA_CSV])
    raw = ["130A.T", "285A.T", "7203.t", " 7203.T ", "7203"]
    request = parse_bulk_request(
        {"symbols": raw, "interval": "1d", "start": "2022-09-12", "end": "2022-09-17"}
    )

    with server.running(), YahooSource(base_url=server.url, timeout=10) as source:
        group = fetch_group(
            request.symbols, request.window, source=source, store=PriceStore(db)
        )

    assert list(request.symbols) == ["130A.T", "285A.T", "7203.T"]
    assert group.errors == {}
    assert {s: o.inserted for s, o in group.outcomes.items()} == {
        "130A.T": 5,
        "285A.T": 5,
        "7203.T": 5,
    }
    symbols = conn.execute("SELECT DISTINCT symbol FROM daily_prices ORDER BY 1")
    assert [row[0] for row in symbols] == ["130A.T", "285A.T", "7203.T"]
    column_type = conn.execute(
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_name = 'daily_prices' AND column_name = 'symbol'"
    ).fetchone()
    assert column_type == ("character varying",)


# --- Y10 ----------------------------------------------------------------------------


def test_y10_golden_week_holidays_are_not_gaps_and_a_missing_day_is_reported(
    replay, source, store, conn
):
    """Y10: 7203.T and the currency JPYUSD=X across Golden Week 2020, with Toyota's
    2020-05-07 removed upstream and one FX volume missing.

    (The sample has no USDJPY=X; JPYUSD=X is the currency pair it holds.)
    """
    replay.set_scenario(
        {
            "remove_days": {"7203.T": ["2020-05-07"]},
            "null_volume": {"JPYUSD=X": ["2020-05-05"]},
        }
    )
    span = window("2020-04-27", "2020-05-12")

    group = fetch_group(
        ["7203.T", "JPYUSD=X"], span, source=source, store=store, now=NOW
    )

    assert group.errors == {}
    toyota, fx = group.outcomes["7203.T"], group.outcomes["JPYUSD=X"]
    assert toyota.missing_sessions == (dt.date(2020, 5, 7),)
    assert fx.missing_sessions == () and fx.rejected == 0
    tokyo_days = calendars.sessions("7203.T", span.start, span.end)
    assert dt.date(2020, 4, 29) not in tokyo_days  # Showa Day
    assert list(stored(conn, "7203.T")) == [
        day for day in tokyo_days if day != dt.date(2020, 5, 7)
    ]
    fx_bars = stored(conn, "JPYUSD=X")
    days = [span.start + dt.timedelta(days=n) for n in range(15)]
    assert list(fx_bars) == [day for day in days if day.weekday() < 5]
    assert {bar[5] for bar in fx_bars.values()} == {0}
    assert dt.date(2020, 5, 5) in fx_bars  # Children's Day, its volume missing
