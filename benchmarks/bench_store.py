"""Benchmark the price store against raw COPY on 1.8 million real daily bars.

Run it with `.venv/bin/python benchmarks/bench_store.py [--symbols-per-batch 50]
[--rounds 1]`. It
needs PostgreSQL at `KABUFLOW_BENCH_DATABASE_URL` (default: database `kabuflow_bench`
on 127.0.0.1:5432, created and migrated here) and empties its price tables.

Every symbol of the recorded universe (`KABUFLOW_UNIVERSE_PARQUET`, default
`../shared/data/tse_daily_2020-09_2022-09.parquet`) becomes a frame
shaped as yfinance returns it (its prices are adjusted, so `Adj Close` is its close)
and goes through `normalize_bars`, the product path. Then the same normalized bars
are loaded three times, in batches of N symbols, one transaction per batch:

1. raw COPY (binary, the fastest load PostgreSQL has) straight into an empty
   `daily_prices`: the baseline;
2. `PriceStore.store_many` into an empty `daily_prices`;
3. `PriceStore.store_many` again, every bar unchanged.

Each load starts after a CHECKPOINT, so none inherits another's dirty pages. Goals:
upsert / COPY >= 0.6 and unchanged upsert / COPY >= 1.0 (ratios of rows per second).
On a shared machine, `--rounds 3` repeats the three loads in turn and adds medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import logging
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from kabuflow import calendars, migrations
from kabuflow.copy_binary import copy_rows, copy_stream, fixed_text, pg_days
from kabuflow.normalize import PriceBars, normalize_bars
from kabuflow.replay.server import recorded_universe
from kabuflow.stack.database import ensure_database
from kabuflow.store import PriceStore

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kabuflow_bench"
PARQUET = recorded_universe()
# The day after the file's last session: every bar is final.
NOW = dt.datetime(2022, 9, 17, tzinfo=dt.UTC)
RAW_COPY = (
    "COPY daily_prices (symbol, interval, date, open, high, low, close, adj_close,"
    " volume, is_final) FROM STDIN (FORMAT BINARY)"
)
VALUES = ("open", "high", "low", "close", "adj_close", "volume", "is_final")


def main() -> int:
    args = _arguments()
    # Normalization warns once per symbol with a refused bar (303 of them here).
    logging.basicConfig(level=logging.ERROR)
    ensure_database(args.database_url)
    migrations.upgrade(args.database_url)
    items = _prepare()
    rows = sum(len(item.bars) for item in items)
    batches = list(_batches(items, args.symbols_per_batch))

    store = PriceStore(args.database_url)
    rounds = []
    for number in range(1, args.rounds + 1):
        rounds.append(_round(args.database_url, store, batches, rows))
        _report(f"round {number}", rows, args.symbols_per_batch, *rounds[-1])
    if len(rounds) > 1:
        medians = [statistics.median(times) for times in zip(*rounds, strict=True)]
        _report("median", rows, args.symbols_per_batch, *medians)
    return 0


def _prepare() -> list[PriceBars]:
    started = time.perf_counter()
    frames = yahoo_frames(PARQUET)
    print(f"read {len(frames)} symbols in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    items = [_normalized(symbol, frame) for symbol, frame in frames]
    seconds = time.perf_counter() - started
    rows = sum(len(item.bars) for item in items)
    rejected = sum(item.rejected for item in items)
    print(
        f"normalized {rows:,} bars in {seconds:.1f} s ({rows / seconds:,.0f}/s),"
        f" rejected {rejected}"
    )
    return items


def _round(url: str, store: PriceStore, batches: list, rows: int) -> tuple:
    """Return the seconds of raw COPY, upsert and unchanged upsert, in that order."""
    copy_s = _measure(url, rows, lambda: raw_copy(url, batches))
    upsert_s = _measure(url, rows, lambda: _upsert(store, batches, 0))
    again_s = _measure(url, rows, lambda: _upsert(store, batches, rows), empty=False)
    return copy_s, upsert_s, again_s


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("KABUFLOW_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    parser.add_argument("--symbols-per-batch", type=int, default=50)
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the three loads, report medians"
    )
    return parser.parse_args()


def yahoo_frames(path: Path) -> list[tuple[str, pd.DataFrame]]:
    """Return each symbol's rows as the frame `Ticker.history` would return."""
    data = pd.read_parquet(path)
    frames = []
    for symbol, rows in data.groupby("symbol", sort=True):
        index = pd.DatetimeIndex(pd.to_datetime(rows["date"]), name="Date")
        volume = rows["volume"]
        frame = pd.DataFrame(
            {
                "Open": rows["open"].to_numpy(),
                "High": rows["high"].to_numpy(),
                "Low": rows["low"].to_numpy(),
                "Close": rows["close"].to_numpy(),
                "Adj Close": rows["close"].to_numpy(),
                # yfinance hands float volumes when one is missing, int64 otherwise.
                "Volume": volume.to_numpy(
                    dtype="float64" if volume.isna().any() else "int64",
                    na_value=np.nan,
                ),
                "Dividends": rows["dividends"].to_numpy(),
                "Stock Splits": rows["stock_splits"].to_numpy(),
            },
            index=index.tz_localize("Asia/Tokyo"),
        )
        frames.append((str(symbol), frame))
    return frames


def _normalized(symbol: str, frame: pd.DataFrame) -> PriceBars:
    return normalize_bars(
        frame,
        symbol=symbol,
        interval="1d",
        exchange_tz="Asia/Tokyo",
        now=NOW,
        session_close=functools.partial(calendars.session_close, symbol),
    )


def _batches(items: list[PriceBars], size: int) -> Iterator[list[PriceBars]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def raw_copy(url: str, batches: Sequence[list[PriceBars]]) -> None:
    """COPY every bar straight into `daily_prices`, one transaction per batch."""
    with psycopg.connect(url) as conn:
        for batch in batches:
            with conn.cursor().copy(RAW_COPY) as copy:
                copy.write(copy_stream(_raw_rows(batch)))
            conn.commit()


def _raw_rows(batch: list[PriceBars]) -> list[bytes]:
    # Text fields travel as fixed-width columns, so symbols of one byte length each
    # make a block of rows.
    by_length: dict[int, list[PriceBars]] = {}
    for item in batch:
        by_length.setdefault(len(item.symbol.encode()), []).append(item)
    return [_raw_block(items) for items in by_length.values()]


def _raw_block(items: list[PriceBars]) -> bytes:
    bars = pd.concat([item.bars for item in items], ignore_index=True)
    if bars["adj_close"].isna().any():
        raise ValueError("raw COPY here carries no NULL adjusted close")
    counts = [len(item.bars) for item in items]
    symbols = fixed_text([item.symbol for item in items])
    return copy_rows(
        [
            np.repeat(symbols, counts),
            fixed_text(["1d"] * len(bars)),
            pg_days(bars["bar"]),
            *(bars[name].to_numpy() for name in VALUES),
        ]
    )


def _upsert(store: PriceStore, batches: Sequence[list[PriceBars]], expected: int):
    unchanged = 0
    for batch in batches:
        results = store.store_many(batch)
        unchanged += sum(result.unchanged for result in results.values())
    if unchanged != expected:
        raise AssertionError(f"{unchanged:,} bars unchanged, expected {expected:,}")


def _measure(url: str, rows: int, load: Callable[[], None], empty=True) -> float:
    """Run `load` after a checkpoint; check the table then holds `rows` bars."""
    with psycopg.connect(url, autocommit=True) as conn:
        if empty:
            conn.execute("TRUNCATE daily_prices, corporate_actions")
        conn.execute("CHECKPOINT")
    started = time.perf_counter()
    load()
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM daily_prices").fetchone()[0]
    if stored != rows:
        raise AssertionError(f"daily_prices holds {stored:,} bars, expected {rows:,}")
    return seconds


def _report(title: str, rows: int, size: int, copy_s, upsert_s, again_s) -> None:
    load = os.getloadavg()[0]
    print(f"{title}: {rows:,} bars, {size} symbols per batch, load average {load:.1f}")
    print(f"  raw COPY            {copy_s:6.1f} s  {rows / copy_s:10,.0f} rows/s")
    for name, seconds, goal in [
        ("upsert, empty table", upsert_s, 0.6),
        ("upsert, unchanged", again_s, 1.0),
    ]:
        ratio = copy_s / seconds
        verdict = "met" if ratio >= goal else "MISSED"
        print(
            f"  {name:19} {seconds:6.1f} s  {rows / seconds:10,.0f} rows/s"
            f"  ratio {ratio:4.2f} (goal >= {goal}: {verdict})"
        )


if __name__ == "__main__":
    raise SystemExit(main())
