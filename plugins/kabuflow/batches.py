"""The batch record: one `batch_executions` row per bulk run, one detail row per symbol.

`BatchService` is the single writer of these tables for the DAG callbacks, the API and
the stop endpoint. Every write is an idempotent upsert or a guarded update, because
Airflow callbacks fire more than once and out of order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from kabuflow.db import get_pool
from kabuflow.errors import BatchDetailNotFound, BatchNotFound
from kabuflow.sqlfiles import load_sql

log = logging.getLogger(__name__)

BATCH_STATUSES = frozenset({"running", "completed", "failed", "cancelled", "paused"})
FINAL_BATCH_STATUSES = frozenset({"completed", "failed", "cancelled"})
DETAIL_STATUSES = frozenset(
    {"pending", "running", "retrying", "success", "failed", "cancelled"}
)
UNFINISHED_DETAIL_STATUSES = frozenset({"pending", "running", "retrying"})
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Batch:
    """One row of `batch_executions` (times are timezone-aware)."""

    id: int
    batch_type: str
    status: str
    total_stocks: int
    processed_stocks: int
    successful_stocks: int
    failed_stocks: int
    start_time: datetime
    end_time: datetime | None
    error_message: str | None
    created_at: datetime
    job_id: str | None
    dag_id: str | None
    parameters: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class BatchDetail:
    """One row of `batch_execution_details`: one symbol of one batch."""

    id: int
    batch_execution_id: int
    stock_code: str
    status: str
    start_time: datetime | None
    end_time: datetime | None
    error_message: str | None
    records_inserted: int
    created_at: datetime
    records_updated: int
    attempts: int
    updated_at: datetime


class BatchService:
    """Read and write the batch record in the app database.

    Methods that take a batch id raise `BatchNotFound` when no such batch exists, and
    `ValueError` for an argument outside what the tables accept.
    """

    def __init__(self, database_url: str | None = None):
        self._database_url = database_url
        self._pool: ConnectionPool | None = None

    @property
    def pool(self) -> ConnectionPool:
        # Opened on first use, so building a service costs nothing at DAG parse time.
        if self._pool is None:
            self._pool = get_pool(self._database_url)
        return self._pool

    def create_batch(
        self,
        batch_type: str,
        total_stocks: int | None = None,
        *,
        symbols: Iterable[str] | None = None,
        job_id: str | None = None,
        dag_id: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> int:
        """Create a running batch with a pending detail row per symbol; return its id.

        A symbol listed twice gets one row and counts once. A `job_id` that already has
        a batch returns that batch's id and writes nothing.
        """
        unique = None if symbols is None else list(dict.fromkeys(symbols))
        if total_stocks is None:
            total_stocks = 0 if unique is None else len(unique)
        _check_create(batch_type, total_stocks)
        row = {
            "batch_type": batch_type,
            "total_stocks": total_stocks,
            "job_id": job_id,
            "dag_id": dag_id,
            "parameters": Jsonb(parameters or {}),
        }

        with self.pool.connection() as conn, conn.cursor() as cur:
            inserted = cur.execute(load_sql("batch_insert"), row).fetchone()
            if inserted is None:
                found = cur.execute(load_sql("batch_id_by_job_id"), row).fetchone()
                log.info("batch %s already exists for job %s", found[0], job_id)
                return found[0]
            batch_id = inserted[0]
            if unique:
                params = {"batch_id": batch_id, "symbols": unique}
                cur.execute(load_sql("batch_details_insert"), params)

        log.info("created %s batch %s (%d stocks)", batch_type, batch_id, total_stocks)
        return batch_id

    def get_batch(self, batch_id: int) -> Batch | None:
        """Return the batch with this id, or None."""
        return self._fetch_batch("batch_get", {"batch_id": batch_id})

    def get_batch_by_job_id(self, job_id: str) -> Batch | None:
        """Return the batch of this job (Airflow run) id, or None."""
        return self._fetch_batch("batch_get_by_job_id", {"job_id": job_id})

    def update_batch_progress(
        self, batch_id: int, *, processed: int = 0, successful: int = 0, failed: int = 0
    ) -> Batch:
        """Add these amounts to the batch's counters; return the batch as stored."""
        if min(processed, successful, failed) < 0:
            raise ValueError("progress increments must not be negative")
        params = {
            "batch_id": batch_id,
            "processed": processed,
            "successful": successful,
            "failed": failed,
        }

        with self.pool.connection() as conn:
            with conn.cursor(row_factory=class_row(Batch)) as cur:
                batch = cur.execute(load_sql("batch_add_progress"), params).fetchone()

        if batch is None:
            raise BatchNotFound(batch_id)
        return batch

    def complete_batch(
        self, batch_id: int, status: str = "completed", error_message: str | None = None
    ) -> Batch:
        """Give the batch a final status and end time; return the batch as stored.

        Counters are recounted from the detail rows when the batch has any. A batch
        that is already final is returned unchanged: a late finalize after a stop
        leaves it `cancelled`.
        """
        if status not in FINAL_BATCH_STATUSES:
            raise ValueError(f"status must be one of {sorted(FINAL_BATCH_STATUSES)}")

        with self.pool.connection() as conn, conn.cursor() as cur:
            stored = _lock_batch(cur, batch_id)
            if stored in FINAL_BATCH_STATUSES:
                log.warning("batch %s is already %s: not %s", batch_id, stored, status)
            else:
                cur.execute(load_sql("batch_recount"), {"batch_id": batch_id})
                self._finish(cur, batch_id, status, error_message)
                log.info("batch %s %s", batch_id, status)

        return self._require_batch(batch_id)

    def create_batch_detail(
        self, batch_id: int, stock_code: str, status: str = "pending"
    ) -> int:
        """Make sure the symbol has a detail row in the batch; return the row's id.

        An existing row moves to `status` only where `update_batch_detail` would.
        """
        return self.update_batch_detail(batch_id, stock_code, status).id

    def update_batch_detail(
        self,
        batch_id: int,
        stock_code: str,
        status: str,
        *,
        error_message: str | None = None,
        records_inserted: int | None = None,
        records_updated: int | None = None,
        attempt: int | None = None,
        create: bool = True,
    ) -> BatchDetail:
        """Record a symbol's state and recount the batch; return the row as stored.

        A stale write is ignored (the stored row is returned): one for an older
        `attempt` than stored, `pending`/`running`/`retrying` over `cancelled`, and a
        step back to an unfinished state without a higher `attempt`. `None` keeps the
        stored attempt and record counts. With `create` False, a symbol the batch
        has no row for raises `BatchDetailNotFound` and nothing is written: a writer
        that knows the batch's stocks must not add one.
        """
        _check_detail(status, attempt)
        params = {
            "batch_id": batch_id,
            "stock_code": stock_code,
            "status": status,
            "error_message": error_message,
            "records_inserted": records_inserted,
            "records_updated": records_updated,
            "attempt": attempt,
        }

        with self.pool.connection() as conn, conn.cursor() as cur:
            _lock_batch(cur, batch_id)
            if not create and not _has_detail(cur, params):
                raise BatchDetailNotFound(batch_id, stock_code)
            written = cur.execute(load_sql("batch_detail_upsert"), params).fetchone()
            if written is None:
                log.warning(
                    "ignored stale %s (attempt %s) for %s in batch %s",
                    status,
                    attempt,
                    stock_code,
                    batch_id,
                )
            else:
                cur.execute(load_sql("batch_recount"), {"batch_id": batch_id})
            with conn.cursor(row_factory=class_row(BatchDetail)) as read:
                return read.execute(load_sql("batch_detail_get"), params).fetchone()

    def finish_unfinished_details(self, batch_id: int, status: str, reason: str) -> int:
        """Close every pending/running/retrying detail as `status`; return how many.

        `status` is `failed` or `cancelled`; `reason` becomes each row's error message.
        """
        if status not in {"failed", "cancelled"}:
            raise ValueError("status must be 'failed' or 'cancelled'")

        with self.pool.connection() as conn, conn.cursor() as cur:
            _lock_batch(cur, batch_id)
            changed = _close_details(cur, batch_id, status, reason)

        log.info(
            "closed %d unfinished stocks of batch %s as %s", changed, batch_id, status
        )
        return changed

    def cancel_batch(
        self, batch_id: int, reason: str = "cancelled by request"
    ) -> Batch:
        """Cancel the batch and every unfinished detail; return the batch as stored.

        Safe to repeat. A batch that is already final keeps its status and end time,
        but its unfinished details are cancelled all the same.
        """
        with self.pool.connection() as conn, conn.cursor() as cur:
            stored = _lock_batch(cur, batch_id)
            changed = _close_details(cur, batch_id, "cancelled", reason)
            if stored not in FINAL_BATCH_STATUSES:
                self._finish(cur, batch_id, "cancelled", reason)

        log.info("cancel of batch %s closed %d unfinished stocks", batch_id, changed)
        return self._require_batch(batch_id)

    def list_batches(
        self,
        *,
        status: str | None = None,
        batch_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Batch], int]:
        """Return one page of batches, newest first, and how many match in all.

        `since` is inclusive and `until` exclusive, both on `start_time`, and both must
        carry a time zone.
        """
        _check_page(status, since, until, limit, offset)
        params = {
            "status": status,
            "batch_type": batch_type,
            "since": since,
            "until": until,
            "limit": limit,
            "offset": offset,
        }

        with self.pool.connection() as conn:
            total = conn.execute(load_sql("batch_count"), params).fetchone()[0]
            with conn.cursor(row_factory=class_row(Batch)) as cur:
                page = cur.execute(load_sql("batch_list"), params).fetchall()

        return page, total

    def get_batch_details(
        self, batch_id: int, *, status: str | None = None
    ) -> list[BatchDetail]:
        """Return the batch's detail rows oldest first, optionally only one status."""
        if status is not None and status not in DETAIL_STATUSES:
            raise ValueError(f"unknown detail status {status!r}")
        params = {"batch_id": batch_id, "status": status}

        with self.pool.connection() as conn:
            with conn.cursor(row_factory=class_row(BatchDetail)) as cur:
                details = cur.execute(load_sql("batch_details_list"), params).fetchall()

        if not details:
            self._require_batch(batch_id)
        return details

    def _fetch_batch(self, query: str, params: dict[str, Any]) -> Batch | None:
        with self.pool.connection() as conn:
            with conn.cursor(row_factory=class_row(Batch)) as cur:
                return cur.execute(load_sql(query), params).fetchone()

    def _require_batch(self, batch_id: int) -> Batch:
        batch = self.get_batch(batch_id)
        if batch is None:
            raise BatchNotFound(batch_id)
        return batch

    @staticmethod
    def _finish(cur: Cursor, batch_id: int, status: str, message: str | None) -> None:
        params = {"batch_id": batch_id, "status": status, "error_message": message}
        cur.execute(load_sql("batch_finish"), params)


def _has_detail(cur: Cursor, params: dict[str, Any]) -> bool:
    return cur.execute(load_sql("batch_detail_get"), params).fetchone() is not None


def _lock_batch(cur: Cursor, batch_id: int) -> str:
    """Lock the batch row for the rest of the transaction; return its status.

    Every writer that recounts the counters from the detail rows takes this lock
    before it writes a detail row. Under READ COMMITTED each statement sees what was
    committed when it started, so without the lock two writers finishing different
    symbols at once would each recount without the other's row and the later commit
    would store a count one short. With the lock the second writer waits until the
    first commits, and its recount, a later statement, sees the first one's row.
    """
    row = cur.execute(load_sql("batch_lock"), {"batch_id": batch_id}).fetchone()
    if row is None:
        raise BatchNotFound(batch_id)
    return row[0]


def _close_details(cur: Cursor, batch_id: int, status: str, reason: str) -> int:
    params = {"batch_id": batch_id, "status": status, "reason": reason}
    cur.execute(load_sql("batch_details_finish_unfinished"), params)
    changed = cur.rowcount
    cur.execute(load_sql("batch_recount"), {"batch_id": batch_id})
    return changed


def _check_create(batch_type: str, total_stocks: int) -> None:
    if not batch_type or len(batch_type) > 50:
        raise ValueError("batch_type must be 1 to 50 characters")
    if total_stocks < 0:
        raise ValueError("total_stocks must not be negative")


def _check_detail(status: str, attempt: int | None) -> None:
    if status not in DETAIL_STATUSES:
        raise ValueError(f"unknown detail status {status!r}")
    if attempt is not None and attempt < 0:
        raise ValueError("attempt must not be negative")


def _check_page(
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> None:
    if status is not None and status not in BATCH_STATUSES:
        raise ValueError(f"unknown batch status {status!r}")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    if offset < 0:
        raise ValueError("offset must not be negative")
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("since and until must carry a time zone")
