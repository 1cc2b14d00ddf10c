"""Read back what a demo run stored: its batch record and the shipped analytics views.

Every figure the demo prints comes from here, that is from the app database, never
from what the API or Airflow said.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from kabuflow.sqlfiles import load_sql

# Large caps shown first when the request holds them; then the request's own order.
SHOWCASE = ("7203.T", "6758.T", "9984.T", "8306.T", "6861.T")
SHOWN_CLOSES = 5
SHOWN_ROWS = 5
SHOWN_FAILURES = 10


@dataclass(frozen=True)
class BatchOutcome:
    """One batch as its detail rows tell it, and the bars stored for its symbols."""

    stocks: int
    successful: int
    failed: int
    unfinished: int
    rows_inserted: int
    rows_updated: int
    rows_stored: int
    failures: list[tuple[str, str | None]]


@dataclass(frozen=True)
class Analytics:
    """A few rows of each shipped view, as the demo prints them."""

    latest_closes: list[tuple[str, str | None, dt.date, float, int]]
    biggest_moves: list[tuple[str, str | None, dt.date, float]]
    batch_history: list[tuple[Any, ...]]
    failure_counts: list[tuple[str, int, str | None]]


def batch_outcome(database_url: str, batch_id: int, symbols: list[str]) -> BatchOutcome:
    """Return the batch's final counts, rows written and failures with reasons."""
    with psycopg.connect(database_url) as conn:
        counts = conn.execute(
            load_sql("demo_batch_outcome"), {"batch_id": batch_id}
        ).fetchone()
        stored = conn.execute(
            load_sql("demo_stored_rows"), {"symbols": symbols}
        ).fetchone()[0]
        failures = conn.execute(
            load_sql("demo_batch_failures"),
            {"batch_id": batch_id, "limit": SHOWN_FAILURES},
        ).fetchall()
    return BatchOutcome(*counts, rows_stored=stored, failures=failures)


def analytics(database_url: str, symbols: list[str]) -> Analytics:
    """Return a few rows of `latest_closes`, `daily_returns`, `batch_history` and
    `stock_failure_counts`, about `symbols` where the view is per symbol."""
    shown = showcase(symbols)
    with psycopg.connect(database_url) as conn:

        def rows(name: str, **params: Any) -> list[tuple]:
            return conn.execute(load_sql(name), params).fetchall()

        return Analytics(
            latest_closes=rows("demo_latest_closes", symbols=shown),
            biggest_moves=rows("demo_biggest_moves", symbols=symbols, limit=SHOWN_ROWS),
            batch_history=rows("demo_batch_history", limit=3),
            failure_counts=rows("demo_failure_counts", limit=SHOWN_ROWS),
        )


def showcase(symbols: list[str]) -> list[str]:
    """Return the few symbols whose latest close the demo shows."""
    known = [symbol for symbol in SHOWCASE if symbol in symbols]
    others = [symbol for symbol in symbols if symbol not in known]
    return (known + others)[:SHOWN_CLOSES]
