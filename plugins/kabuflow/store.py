"""Store normalized bars and corporate actions: idempotent, one round trip per batch.

DESIGN decision 9. The bars of a whole batch (one symbol or fifty) go by one binary
COPY into a temporary staging table, then one statement moves them into
`daily_prices` or `intraday_prices`: an `INSERT ... ON CONFLICT DO UPDATE` that
leaves alone every bar whose values did not change. The same bar twice in one
batch never reaches it (D1): the last one given wins, as in normalization. Storing
the same bars again changes nothing and duplicates nothing.

A store first takes a transaction-level advisory lock per symbol, so two stores of
one symbol run one after the other. That makes a symbol with nothing stored at the
interval safe to load by COPY straight into the price table, skipping the staging
table and ON CONFLICT alike: no other store can add its bars meanwhile. A first load
of the Tokyo universe is 1.8 million bars; staged, it took 1.8 times as long as a
raw COPY (`benchmarks/bench_store.py`). Only symbols with bars stored go through the
staging table.

A corporate action is *added* when its (symbol, kind, date) was not stored before.
It is *new to stored history* (`StoreResult.new_actions`) when, besides, bars of
the symbol at this interval stored by earlier runs predate it: their adjusted
prices may be stale, and the caller should fetch the whole history again (unless
what it just stored was the whole history). On a symbol's first load every action
is added and none is new: the history fetched is consistent with its own actions.
Actions belong to a symbol, not to an interval: an action first stored along with
intraday bars is not new to a later daily store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.errors import UniqueViolation
from psycopg_pool import PoolTimeout

from kabuflow.copy_binary import (
    copy_rows,
    copy_stream,
    fixed_text,
    pg_days,
    pg_microseconds,
)
from kabuflow.db import get_pool
from kabuflow.errors import (
    InvalidRequestError,
    PriceDataError,
    PriceStoreRejectedError,
    PriceStoreUnavailableError,
)
from kabuflow.normalize import PriceBars
from kabuflow.sqlfiles import load_sql

log = logging.getLogger(__name__)

VALUE_COLUMNS = (
    ("open", "float64"),
    ("high", "float64"),
    ("low", "float64"),
    ("close", "float64"),
    ("adj_close", "float64"),
    ("volume", "int64"),
    ("is_final", "bool"),
)
VALUE_NAMES = tuple(name for name, _ in VALUE_COLUMNS)


@dataclass(frozen=True)
class _Table:
    name: str
    bar: str
    bar_type: str


DAILY_TABLE = _Table("daily_prices", "date", "date")
INTRADAY_TABLE = _Table("intraday_prices", "bar_start", "timestamptz")


@dataclass(frozen=True)
class StoreResult:
    """What storing one symbol's bars did.

    `unchanged` bars were equal to the stored ones and not rewritten; `rejected`
    bars were refused by normalization and never reached the store. `actions_added`
    and `new_actions` are explained in the module docstring; `first_load` is True
    when no bar of the symbol at this interval was stored before.
    """

    symbol: str
    interval: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    actions_added: int = 0
    new_actions: int = 0
    first_load: bool = False

    def as_dict(self) -> dict:
        """Return the result as a small JSON-ready dict (fit for XCom)."""
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "actions_added": self.actions_added,
            "new_actions": self.new_actions,
            "first_load": self.first_load,
        }


class PriceStore:
    """Write `PriceBars` to the app database (default: the configured one)."""

    def __init__(self, database_url: str | None = None):
        self._database_url = database_url

    def store(self, bars: PriceBars) -> StoreResult:
        """Store one symbol's bars and actions; see `store_many`."""
        return self.store_many([bars])[bars.symbol]

    def store_many(self, items: Sequence[PriceBars]) -> dict[str, StoreResult]:
        """Store several symbols' bars in one transaction; return results by symbol.

        All items must share one interval (`InvalidRequestError` otherwise). A
        symbol given twice is stored once, the later item winning bar by bar.
        Raises `PriceStoreUnavailableError` (retryable: nothing was written) when
        the database cannot be reached or the transaction hits a deadlock or
        conflict, `PriceStoreRejectedError` when the database refuses the rows.
        """
        batch = _Batch.of(items)
        if not batch.symbols:
            return {}
        with _database_errors(batch), self._connection() as conn, conn.transaction():
            _lock_symbols(conn, batch.symbols)
            first = _first_stored(conn, batch)
            added = _upsert_actions(conn, batch)
            counts = _upsert_bars(conn, batch, first)

        results = {
            symbol: batch.result(symbol, first[symbol], added.get(symbol, []), counts)
            for symbol in batch.symbols
        }
        for result in results.values():
            _log_result(result, added.get(result.symbol, []))
        return results

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        with get_pool(self._database_url).connection() as conn:
            yield conn


@dataclass(frozen=True)
class _Batch:
    """The items of one `store_many` call, grouped by symbol (sorted)."""

    interval: str
    table: _Table
    symbols: list[str]
    frames: dict[str, list[pd.DataFrame]]
    actions: dict[tuple[str, str, dt.date], float]
    rejected: dict[str, int]

    @classmethod
    def of(cls, items: Sequence[PriceBars]) -> _Batch:
        intervals = sorted({item.interval for item in items})
        if len(intervals) > 1:
            raise InvalidRequestError(
                "interval", f"one store holds one interval, got {', '.join(intervals)}"
            )
        frames, actions, rejected = {}, {}, {}
        for item in items:
            frames.setdefault(item.symbol, []).append(item.bars)
            rejected[item.symbol] = rejected.get(item.symbol, 0) + item.rejected
            for date, kind, value in _action_records(item.actions):
                actions[(item.symbol, kind, date)] = value
        intraday = bool(items) and items[0].intraday
        return cls(
            interval=intervals[0] if intervals else "",
            table=INTRADAY_TABLE if intraday else DAILY_TABLE,
            symbols=sorted(frames),
            frames=frames,
            actions=actions,
            rejected=rejected,
        )

    @property
    def intraday(self) -> bool:
        return self.table is INTRADAY_TABLE

    def staged_columns(self) -> list[np.ndarray]:
        """Return the bars as COPY columns, one row per (symbol, bar), key-sorted."""
        parts = [
            (item, frame)
            for item, symbol in enumerate(self.symbols)
            for frame in self.frames[symbol]
        ]
        items = np.repeat(
            np.array([i for i, _ in parts], dtype="int32"), [len(f) for _, f in parts]
        )
        # One concatenation, then one conversion per column: per-frame column
        # access cost more than the COPY it feeds.
        frame = pd.concat([f for _, f in parts], ignore_index=True)
        bars = _bar_numbers(frame["bar"], self.intraday)
        values = [frame[name].to_numpy(dtype=dtype) for name, dtype in VALUE_COLUMNS]
        keep = _last_of_each_key(items, bars)
        return [column[keep] for column in (items, bars, *values)]

    def result(self, symbol: str, first_stored, added: list, counts) -> StoreResult:
        """Return the `StoreResult` of `symbol` from what the statements answered."""
        staged, inserted, updated = counts.get(symbol, (0, 0, 0))
        return StoreResult(
            symbol=symbol,
            interval=self.interval,
            inserted=inserted,
            updated=updated,
            unchanged=staged - inserted - updated,
            rejected=self.rejected[symbol],
            actions_added=len(added),
            new_actions=sum(1 for _, day, _ in added if _before(first_stored, day)),
            first_load=first_stored is None,
        )


def _action_records(frame: pd.DataFrame) -> list[tuple]:
    if frame.empty:
        return []
    columns = (frame[name].tolist() for name in ("date", "kind", "value"))
    return list(zip(*columns, strict=True))


def _bar_numbers(bars: pd.Series, intraday: bool) -> np.ndarray:
    """Return bars in PostgreSQL's binary units: days, or µs, since 2000-01-01."""
    if not intraday:
        return pg_days(bars)
    instants = pd.DatetimeIndex(bars)
    if instants.tz is None:
        raise PriceDataError("intraday bars must be timezone-aware instants")
    return pg_microseconds(instants.tz_convert("UTC").tz_localize(None).to_numpy())


def _last_of_each_key(items: np.ndarray, bars: np.ndarray):
    """Return which rows to keep: the last row given for each (item, bar).

    Normalized bars arrive sorted and unique, which one pass confirms; only a
    symbol given twice, or bars built by hand, pay for the sort.
    """
    later_item = items[1:] > items[:-1]
    if np.all(later_item | ((items[1:] == items[:-1]) & (bars[1:] > bars[:-1]))):
        return slice(None)
    order = np.lexsort((bars, items))  # stable: equal keys keep their given order
    items, bars = items[order], bars[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (items[1:] != items[:-1]) | (bars[1:] != bars[:-1])
    return order[last]


def _before(stored, day: dt.date) -> bool:
    """Return whether a stored bar (a date, or a UTC datetime) precedes `day`."""
    if stored is None:
        return False
    if isinstance(stored, dt.datetime):
        stored = stored.astimezone(dt.UTC).date()
    return stored < day


def _query(name: str, table: _Table) -> sql.Composed:
    return sql.SQL(load_sql(name)).format(
        table=sql.Identifier(table.name),
        bar=sql.Identifier(table.bar),
        bar_type=sql.SQL(table.bar_type),
    )


def _lock_symbols(conn: psycopg.Connection, symbols: list[str]) -> None:
    """Wait until no other store holds one of `symbols`; hold them until commit.

    Two stores of one symbol then never interleave: the second sees what the first
    committed, which lets a symbol with nothing stored skip ON CONFLICT.
    """
    keys = sorted(symbol_lock_key(symbol) for symbol in symbols)
    conn.execute(load_sql("price_lock_symbols"), {"keys": keys})


def symbol_lock_key(symbol: str) -> int:
    """Return the advisory lock key the store holds `symbol` under while it writes.

    Another writer of prices can take it (`pg_advisory_xact_lock`) to serialize
    with the store. It is stable across processes, unlike Python's `hash`.
    """
    digest = hashlib.blake2b(f"kabuflow.prices {symbol}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _first_stored(conn: psycopg.Connection, batch: _Batch) -> dict:
    rows = conn.execute(
        _query("price_first_stored", batch.table),
        {"symbols": batch.symbols, "interval": batch.interval},
    ).fetchall()
    return dict(rows)


def _upsert_actions(conn: psycopg.Connection, batch: _Batch) -> dict[str, list]:
    """Store the batch's actions; return, by symbol, those not stored before."""
    if not batch.actions:
        return {}
    keys = sorted(batch.actions)
    rows = conn.execute(
        load_sql("action_upsert"),
        {
            "symbols": [symbol for symbol, _, _ in keys],
            "kinds": [kind for _, kind, _ in keys],
            "dates": [date for _, _, date in keys],
            "values": [batch.actions[key] for key in keys],
        },
    ).fetchall()
    added: dict[str, list] = {}
    for symbol, kind, date, value, inserted in rows:
        if inserted:
            added.setdefault(symbol, []).append((kind, date, value))
    return added


def _upsert_bars(conn: psycopg.Connection, batch: _Batch, first: dict) -> dict:
    """Store the bars; return (staged, inserted, updated) by symbol.

    Symbols with nothing stored at the interval are copied into the price table;
    the others are staged and upserted.
    """
    columns = batch.staged_columns()
    staged = np.bincount(columns[0], minlength=len(batch.symbols))
    known = np.array([first[symbol] is not None for symbol in batch.symbols])
    rows_known = known[columns[0]]
    counts, changed = {}, {}
    with conn.cursor() as cur:
        if not rows_known.all():
            _copy_new(cur, batch, [column[~rows_known] for column in columns])
        if rows_known.any():
            changed = _stage_and_upsert(
                cur, batch, [column[rows_known] for column in columns]
            )
    for item, symbol in enumerate(batch.symbols):
        rows = int(staged[item])
        counts[symbol] = (
            (rows, *changed.get(symbol, (0, 0))) if known[item] else (rows, rows, 0)
        )
    return counts


def _copy_new(cur: psycopg.Cursor, batch: _Batch, columns: list[np.ndarray]) -> None:
    """COPY the bars of symbols with nothing stored straight into the price table."""
    items, bars, *values = columns
    encoded = np.array([symbol.encode() for symbol in batch.symbols], dtype=object)
    item_lengths = np.array([len(symbol) for symbol in encoded])
    lengths = item_lengths[items]
    interval = fixed_text([batch.interval])
    adj_close = VALUE_NAMES.index("adj_close") + 3
    blocks = []
    # Text travels as fixed-width fields: one block per symbol byte length.
    for length in sorted(set(item_lengths[np.unique(items)])):
        rows = lengths == length
        symbols = encoded[items[rows]].astype(f"S{length}")
        block = [symbols, np.repeat(interval, len(symbols)), bars[rows]]
        block += [column[rows] for column in values]
        blocks.append(copy_rows(block, nulls={adj_close: np.isnan(block[adj_close])}))
    with cur.copy(_query("price_copy", batch.table)) as copy:
        copy.write(copy_stream(blocks))


def _stage_and_upsert(
    cur: psycopg.Cursor, batch: _Batch, columns: list[np.ndarray]
) -> dict[str, tuple[int, int]]:
    """Stage bars of symbols already stored; upsert the changed ones."""
    cur.execute(_query("price_staging_create", batch.table))
    with cur.copy(load_sql("price_staging_copy")) as copy:
        copy.write(copy_stream([copy_rows(columns)]))
    cur.execute(
        _query("price_upsert", batch.table),
        {"symbols": batch.symbols, "interval": batch.interval},
    )
    return {symbol: (ins, upd) for symbol, ins, upd in cur.fetchall()}


@contextmanager
def _database_errors(batch: _Batch) -> Iterator[None]:
    """Translate database failures into the store's errors, naming the batch."""
    what = f"{len(batch.symbols)} symbol(s) {batch.interval} ({batch.symbols[0]}...)"
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout, UniqueViolation) as err:
        # A unique violation means someone outside the store added the same bars
        # meanwhile: the next attempt sees them and updates instead.
        raise PriceStoreUnavailableError(f"storing {what} failed: {err}") from err
    except psycopg.Error as err:
        raise PriceStoreRejectedError(f"the database refused {what}: {err}") from err


def _log_result(result: StoreResult, added: list) -> None:
    log.info(
        "stored %s %s: %d inserted, %d updated, %d unchanged, %d rejected",
        result.symbol,
        result.interval,
        result.inserted,
        result.updated,
        result.unchanged,
        result.rejected,
    )
    if added:
        shown = ", ".join(f"{kind} {day} {value!r}" for kind, day, value in added[-5:])
        log.info(
            "%s: %d corporate action(s) added, %d new to stored history; latest: %s",
            result.symbol,
            len(added),
            result.new_actions,
            shown,
        )
