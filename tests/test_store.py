"""The price store on the real PostgreSQL: idempotence, splits, precision, D1, Y5-Y8."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd
import psycopg
import pytest
from price_frames import ZONES, frame_of, no_calendar, utc, yahoo_frame

from kabuflow.errors import (
    InvalidRequestError,
    MissingColumnError,
    PriceDataError,
    PriceStoreRejectedError,
    PriceStoreUnavailableError,
)
from kabuflow.normalize import PriceBars, normalize_bars
from kabuflow.store import PriceStore, symbol_lock_key

SPLIT_DAY = dt.date(2021, 9, 29)
PRICES = ["Open", "High", "Low", "Close", "Adj Close"]
AFTER_DATA = utc(2023, 1, 1)


def tokyo_close(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(6, 0), dt.UTC)


def bars_of(frame, symbol="7203.T", interval="1d", now=AFTER_DATA, **kwargs):
    return normalize_bars(
        frame,
        symbol=symbol,
        interval=interval,
        exchange_tz=kwargs.get("tz", ZONES.get(symbol, "Asia/Tokyo")),
        now=now,
        session_close=kwargs.get("session_close", no_calendar),
    )


def daily_rows(conn, symbol="7203.T") -> list[tuple]:
    return conn.execute(
        "SELECT date, open, high, low, close, adj_close, volume, is_final"
        " FROM daily_prices WHERE symbol = %s AND interval = '1d' ORDER BY date",
        [symbol],
    ).fetchall()


def actions(conn, symbol="7203.T") -> dict:
    rows = conn.execute(
        "SELECT kind, date, value FROM corporate_actions WHERE symbol = %s", [symbol]
    ).fetchall()
    return {(kind, date): value for kind, date, value in rows}


@pytest.fixture
def store(db):
    return PriceStore(db)


def before_the_split(real: pd.DataFrame) -> pd.DataFrame:
    """Toyota's history as served on 2021-09-28: prices 5x, volumes /5, no split."""
    frame = real[real.index.date < SPLIT_DAY].copy()
    assert (frame["Volume"] % 5 == 0).all()
    frame[PRICES] = frame[PRICES] * 5
    frame["Volume"] = frame["Volume"] // 5
    frame["Dividends"] = frame["Dividends"] * 5
    return frame


# --- idempotence --------------------------------------------------------------------


def test_storing_twice_changes_nothing_the_second_time(store, conn):
    bars = bars_of(yahoo_frame("7203.T"))

    first = store.store(bars)
    stored = daily_rows(conn)
    second = store.store(bars)

    assert (first.inserted, first.updated, first.unchanged) == (len(bars.bars), 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, len(bars.bars))
    assert second.actions_added == 0 and second.new_actions == 0
    assert daily_rows(conn) == stored
    updated_at = conn.execute("SELECT max(updated_at) FROM daily_prices").fetchone()
    created_at = conn.execute("SELECT max(created_at) FROM daily_prices").fetchone()
    assert updated_at == created_at


def test_as_dict_is_small_and_json_ready(store):
    result = store.store(bars_of(yahoo_frame("7203.T")))

    assert result.as_dict() == {
        "symbol": "7203.T",
        "interval": "1d",
        "inserted": 419,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "actions_added": 5,
        "new_actions": 0,
        "first_load": True,
    }


# --- split re-serve (Y8) ------------------------------------------------------------


def test_a_split_re_serve_updates_history_and_records_the_split(store, conn):
    real = yahoo_frame("7203.T")
    old = before_the_split(real)
    store.store(bars_of(old, now=utc(2021, 9, 28, 12), session_close=tokyo_close))
    old_dividend = actions(conn)[("dividend", dt.date(2021, 3, 30))]

    result = store.store(bars_of(real, now=utc(2022, 9, 17)))

    assert result.updated == len(old)
    assert result.inserted == len(real) - len(old)
    assert result.unchanged == 0 and not result.first_load
    rows = daily_rows(conn)
    assert len(rows) == len(real)
    assert [row[4] for row in rows] == real["Close"].tolist()
    assert [row[5] for row in rows] == real["Adj Close"].tolist()
    assert [row[6] for row in rows] == real["Volume"].tolist()
    stored_actions = actions(conn)
    assert stored_actions[("split", SPLIT_DAY)] == 5.0
    assert (old_dividend, stored_actions[("dividend", dt.date(2021, 3, 30))]) == (
        135.0,
        27.0,
    )
    # Added: dividends of 2021-09-29 and 2022-03-30, the splits of 09-29 and 10-01
    # (Yahoo's data repeats the split); the restated March dividend is not added.
    assert (result.actions_added, result.new_actions) == (4, 4)


def test_a_first_load_adds_actions_but_none_is_new(store):
    result = store.store(bars_of(yahoo_frame("7203.T")))

    assert result.first_load
    assert (result.actions_added, result.new_actions) == (5, 0)


def test_an_action_dated_before_all_stored_bars_is_not_new(store):
    real = yahoo_frame("7203.T")
    recent = real[real.index.date >= dt.date(2022, 1, 1)]
    store.store(bars_of(recent))

    result = store.store(bars_of(real))

    # The 2021 dividends (March, September) and splits (September 29, October 1)
    # are added; none is new, as every one predates the first bar stored (2022).
    assert (result.actions_added, result.new_actions) == (4, 0)
    assert result.inserted == len(real) - len(recent)


# --- precision --------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["JPYUSD=X", "TM"])
def test_prices_round_trip_bit_exactly(store, conn, symbol):
    frame = yahoo_frame(symbol)
    bars = bars_of(frame, symbol=symbol)
    store.store(bars)

    rows = daily_rows(conn, symbol)

    assert len(rows) == len(bars.bars) > 200
    source = frame[np.isin(frame.index.date, [row[0] for row in rows])]
    for position, column in enumerate(PRICES, start=1):
        stored = np.array([row[position] for row in rows], dtype="float64")
        assert np.array_equal(
            stored.view("int64"), source[column].to_numpy().view("int64")
        ), column
    assert [row[6] for row in rows] == [int(v) for v in source["Volume"]]


def test_zero_volume_is_stored_as_zero(store, conn):
    store.store(bars_of(yahoo_frame("JPYUSD=X"), symbol="JPYUSD=X"))

    volumes = {row[6] for row in daily_rows(conn, "JPYUSD=X")}

    assert volumes == {0}


# --- duplicates (D1) ----------------------------------------------------------------


def test_a_repeated_date_is_stored_once(store, conn):
    frame = yahoo_frame("7203.T")
    again = frame.iloc[[10]]
    repeated = pd.concat([frame, again.assign(High=1e4, Close=1e4)])

    result = store.store(bars_of(repeated))

    rows = daily_rows(conn)
    assert result.inserted == len(frame) == len(rows)
    assert rows[10][4] == 1e4


def test_a_symbol_given_twice_is_stored_and_counted_once(store, conn):
    bars = bars_of(yahoo_frame("7203.T"))
    other = bars_of(yahoo_frame("TM"), symbol="TM")

    results = store.store_many([bars, other, bars])

    assert sorted(results) == ["7203.T", "TM"]
    assert results["7203.T"].inserted == len(bars.bars)
    assert results["7203.T"].rejected == 0
    assert len(daily_rows(conn)) == len(bars.bars)


def test_the_later_of_two_items_wins_bar_by_bar(store, conn):
    frame = yahoo_frame("7203.T").iloc[:3]
    revised = frame.assign(Close=frame["Close"] + 1).iloc[1:]

    store.store_many([bars_of(frame), bars_of(revised)])

    closes = [row[4] for row in daily_rows(conn)]
    assert closes == [frame["Close"].iloc[0], *(frame["Close"].iloc[1:] + 1)]


def test_duplicate_bars_built_by_hand_never_reach_on_conflict(store, conn):
    bars = bars_of(yahoo_frame("7203.T").iloc[:3])
    doubled = pd.concat([bars.bars, bars.bars.iloc[[1]].assign(close=1.0)])
    hand_made = PriceBars("7203.T", "1d", doubled, bars.actions)

    result = store.store(hand_made)

    assert (result.inserted, result.unchanged) == (3, 0)
    assert [row[4] for row in daily_rows(conn)][1] == 1.0


def test_one_store_holds_one_interval(store):
    daily = bars_of(yahoo_frame("7203.T"))
    weekly = bars_of(yahoo_frame("7203.T"), interval="1wk")

    with pytest.raises(InvalidRequestError):
        store.store_many([daily, weekly])


def test_a_stored_symbol_without_bars_beside_a_new_symbol(store, conn):
    """Only the new symbol's bars are written; the stored one counts zero."""
    frame = yahoo_frame("7203.T")
    store.store(bars_of(frame))

    results = store.store_many(
        [bars_of(frame.iloc[:0]), bars_of(frame, symbol="6758.T")]
    )

    assert (results["7203.T"].inserted, results["7203.T"].updated) == (0, 0)
    assert results["6758.T"].inserted == len(daily_rows(conn, "6758.T")) > 0


def test_nothing_to_store_is_an_empty_answer(store):
    assert store.store_many([]) == {}


# --- unusable rows (Y5, Y6) -------------------------------------------------------


def test_nan_rows_and_ohlc_violations_are_not_stored(store, conn):
    frame = yahoo_frame("7203.T")
    frame.iloc[5, frame.columns.get_indexer(["Open", "High", "Low", "Close"])] = np.nan
    frame.iloc[6, frame.columns.get_indexer(["Low"])] = frame["High"].iloc[6] + 1

    result = store.store(bars_of(frame))

    assert result.rejected == 2
    assert result.inserted == len(frame) - 2
    stored_days = {row[0] for row in daily_rows(conn)}
    assert not stored_days & {frame.index[5].date(), frame.index[6].date()}
    nan_count = conn.execute(
        "SELECT count(*) FROM daily_prices WHERE 'NaN' IN (open, high, low, close)"
        " OR adj_close = 'NaN' OR close = 0"
    ).fetchone()[0]
    assert nan_count == 0


def test_a_missing_adj_close_is_stored_as_null(store, conn):
    frame = yahoo_frame("7203.T").iloc[:2]
    frame.iloc[1, frame.columns.get_loc("Adj Close")] = np.nan

    store.store(bars_of(frame))

    assert [row[5] for row in daily_rows(conn)] == [frame["Adj Close"].iloc[0], None]


def test_a_first_load_of_mixed_symbols_copies_them_in_whole(store, conn):
    """New symbols of several byte lengths, with and without a NULL adjusted close,
    in one store beside a symbol already stored: each lands bar for bar."""
    toyota = yahoo_frame("7203.T").iloc[:5]
    store.store(bars_of(toyota.iloc[:3]))
    apple = yahoo_frame("7203.T").iloc[:4].copy()
    apple.iloc[2, apple.columns.get_loc("Adj Close")] = np.nan
    letters = yahoo_frame("7203.T").iloc[5:8]

    results = store.store_many(
        [
            bars_of(toyota),
            bars_of(apple, symbol="AAPL"),
            bars_of(letters, symbol="130A.T"),
        ]
    )

    assert {s: (r.inserted, r.updated, r.first_load) for s, r in results.items()} == {
        "130A.T": (3, 0, True),
        "7203.T": (2, 0, False),
        "AAPL": (4, 0, True),
    }
    assert [row[5] for row in daily_rows(conn, "AAPL")] == [
        *apple["Adj Close"].iloc[:2],
        None,
        apple["Adj Close"].iloc[3],
    ]
    assert [row[4] for row in daily_rows(conn, "130A.T")] == list(letters["Close"])
    assert len(daily_rows(conn)) == 5


def test_a_missing_column_stops_before_the_store(store, conn):
    with pytest.raises(MissingColumnError):
        store.store(bars_of(yahoo_frame("7203.T").drop(columns=["Adj Close"])))

    assert daily_rows(conn) == []


# --- finality (Y6) ------------------------------------------------------------------


def test_an_unfinished_bar_is_replaced_by_the_final_one(store, conn):
    day = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 100)])
    later = frame_of([("2022-09-15", 10.0, 12.0, 9.0, 11.5, 11.5, 300)])

    store.store(bars_of(day, now=utc(2022, 9, 15, 3), session_close=tokyo_close))
    stored_during = daily_rows(conn)
    after = store.store(
        bars_of(later, now=utc(2022, 9, 15, 7), session_close=tokyo_close)
    )

    assert stored_during == [
        (dt.date(2022, 9, 15), 10.0, 11.0, 9.0, 10.5, 10.5, 100, False)
    ]
    assert (after.inserted, after.updated) == (0, 1)
    assert daily_rows(conn) == [
        (dt.date(2022, 9, 15), 10.0, 12.0, 9.0, 11.5, 11.5, 300, True)
    ]


def test_only_is_final_changing_is_an_update(store, conn):
    day = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 100)])
    store.store(bars_of(day, now=utc(2022, 9, 15, 3), session_close=tokyo_close))

    result = store.store(bars_of(day, now=utc(2022, 9, 16), session_close=tokyo_close))

    assert (result.updated, result.unchanged) == (1, 0)
    assert daily_rows(conn)[0][7] is True


# --- intraday -----------------------------------------------------------------------


def test_intraday_bars_are_stored_as_utc_instants(store, conn):
    frame = frame_of(
        [
            ("2022-09-15 09:00", 10.0, 11.0, 9.0, 10.5, 10.5, 100),
            ("2022-09-15 09:05", 10.5, 11.0, 10.0, 10.8, 10.8, 50),
        ]
    )

    result = store.store(bars_of(frame, interval="5m", now=utc(2022, 9, 15, 0, 7)))

    rows = conn.execute(
        "SELECT bar_start, close, is_final FROM intraday_prices ORDER BY bar_start"
    ).fetchall()
    assert result.inserted == 2
    assert rows == [
        (utc(2022, 9, 15, 0, 0), 10.5, True),
        (utc(2022, 9, 15, 0, 5), 10.8, False),
    ]
    assert conn.execute("SELECT count(*) FROM daily_prices").fetchone()[0] == 0


def test_an_intraday_re_run_after_the_bar_ended_finalizes_it(store, conn):
    frame = frame_of([("2022-09-15 09:05", 10.5, 11.0, 10.0, 10.8, 10.8, 50)])
    store.store(bars_of(frame, interval="5m", now=utc(2022, 9, 15, 0, 7)))

    result = store.store(bars_of(frame, interval="5m", now=utc(2022, 9, 15, 0, 10)))

    assert result.updated == 1
    assert conn.execute("SELECT is_final FROM intraday_prices").fetchone() == (True,)


# --- types and errors ---------------------------------------------------------------


def test_numpy_types_of_every_width_are_stored_as_values(store, conn):
    bars = bars_of(yahoo_frame("7203.T").iloc[:3])
    narrow = bars.bars.astype({"volume": "int32", "is_final": "bool"})
    narrow["open"] = narrow["open"].astype("float32").astype("float64")
    hand_made = PriceBars("7203.T", "1d", narrow, bars.actions)

    store.store(hand_made)

    rows = daily_rows(conn)
    assert [type(row[6]) for row in rows] == [int] * 3
    assert [row[1] for row in rows] == narrow["open"].tolist()


def test_a_value_the_database_refuses_is_a_permanent_error(store, conn):
    bars = bars_of(yahoo_frame("7203.T").iloc[:3], symbol="X" * 40)

    with pytest.raises(PriceStoreRejectedError):
        store.store(bars)

    assert daily_rows(conn, "X" * 40) == []


def test_a_lock_timeout_is_retryable_and_writes_nothing(db, conn):
    bars = bars_of(yahoo_frame("7203.T").iloc[:3])
    PriceStore(db).store(bars)
    impatient = PriceStore(db + "?options=-c%20lock_timeout%3D200")
    changed = bars_of(yahoo_frame("7203.T").iloc[:3].assign(Close=1.0, Low=0.5))

    with conn.transaction():
        conn.execute("SELECT * FROM daily_prices FOR UPDATE")
        with pytest.raises(PriceStoreUnavailableError):
            impatient.store(changed)

    assert [row[4] for row in daily_rows(conn)] == bars.bars["close"].tolist()


# --- concurrency --------------------------------------------------------------------


def test_a_store_waits_for_another_store_of_the_same_symbol(store, db):
    bars = bars_of(yahoo_frame("7203.T").iloc[:3])
    results = []
    with psycopg.connect(db) as other:
        # Another store's transaction: it holds the symbol and has added its bars.
        other.execute("SELECT pg_advisory_xact_lock(%s)", [symbol_lock_key("7203.T")])
        other.execute(
            "INSERT INTO daily_prices (symbol, interval, date, open, high, low, close,"
            " adj_close, volume) SELECT '7203.T', '1d', * FROM unnest("
            "%s::date[], %s::float8[], %s::float8[], %s::float8[], %s::float8[],"
            " %s::float8[], %s::bigint[])",
            [list(column) for column in zip(*bars.records(), strict=True)][:7],
        )
        waiting = threading.Thread(target=lambda: results.append(store.store(bars)))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive(), "the store did not wait for the symbol's lock"
        other.commit()
    waiting.join(timeout=10)

    [result] = results
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 3)
    assert not result.first_load


def test_naive_intraday_bars_are_refused(store, conn):
    bars = bars_of(
        frame_of([("2022-09-15 09:00", 10.0, 11.0, 9.0, 10.5, 10.5, 100)]),
        interval="5m",
    )
    naive = bars.bars.assign(bar=bars.bars["bar"].dt.tz_localize(None))

    with pytest.raises(PriceDataError, match="timezone-aware"):
        store.store(PriceBars("7203.T", "5m", naive, bars.actions))

    assert conn.execute("SELECT count(*) FROM intraday_prices").fetchone() == (0,)
