"""The batch record as one Airflow run writes it: its batch, and each task's symbols.

Every write goes through `BatchService`. Without Phase 2 (`ENABLE_PHASE2=false`) a
run has no batch: `batch_of_run` answers None and `GroupProgress` writes nothing.

A `fetch_prices` task instance owns a group of symbols. A symbol is *settled* for it
when its row is `cancelled`, or `success`/`failed` from an attempt of the task's
current cycle. A cycle starts when the task first runs and again each time someone
clears it in the UI; Airflow then raises `max_tries` to the last try plus `retries`,
so the cycle's first try is `max_tries - retries + 1`. A retry therefore skips the
symbols an earlier attempt settled, while a cleared task fetches its symbols again.
Everything else is *open*, and only open rows are ever written: a callback never
overwrites a result the task recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kabuflow.batches import FINAL_BATCH_STATUSES, BatchService
from kabuflow.errors import KabuflowError
from kabuflow.settings import get_settings
from kabuflow.sqlfiles import load_sql

log = logging.getLogger(__name__)

FINAL_STATUSES = ("success", "failed")


def batch_service() -> BatchService | None:
    """Return the batch record's service, or None when Phase 2 is off."""
    return BatchService() if get_settings().enable_phase2 else None


def batch_of_run(
    service: BatchService | None, run_id: str, params: Mapping[str, Any]
) -> int | None:
    """Return the id of the run's batch: the caller's `batch_id`, else the run's own.

    A run's own batch is the one whose `job_id` is the run id. A caller's batch that
    belongs to another run is not this run's: None, like a run without a batch.
    """
    if service is None:
        return None
    if params.get("batch_id") is None:
        batch = service.get_batch_by_job_id(run_id)
    else:
        batch = service.get_batch(params["batch_id"])
        if batch is not None and batch.job_id not in (None, run_id):
            log.warning(
                "batch %s belongs to run %s, not %s", batch.id, batch.job_id, run_id
            )
            batch = None
    return None if batch is None else batch.id


def error_message(error: BaseException | str | None) -> str:
    """Return the text a detail row keeps for `error`: its kind, then its message."""
    if error is None:
        return "the task failed without an error message"
    if isinstance(error, str):
        return error
    kind = getattr(error, "reason", None) or type(error).__name__
    return f"{kind}: {error}"


class GroupProgress:
    """Write the detail rows of the symbols one task attempt owns.

    `attempt` is the task's try number and `first_attempt` its cycle's first try.
    """

    def __init__(
        self,
        service: BatchService | None,
        batch_id: int | None,
        symbols: Iterable[str],
        *,
        attempt: int,
        first_attempt: int = 1,
    ):
        self.service = service if batch_id is not None else None
        self.batch_id = batch_id
        self.symbols = list(symbols)
        self.attempt = attempt
        self.first_attempt = max(1, min(first_attempt, attempt))

    def open_symbols(self) -> list[str]:
        """Return the group's symbols not yet settled in this cycle, in order."""
        if self.service is None:
            return list(self.symbols)
        params = {"batch_id": self.batch_id, "symbols": self.symbols}
        with self.service.pool.connection() as conn:
            rows = conn.execute(load_sql("batch_details_of_symbols"), params)
            settled = {
                code for code, status, tries in rows if self._settled(status, tries)
            }
        return [symbol for symbol in self.symbols if symbol not in settled]

    def mark_running(self) -> list[str]:
        """Mark the open symbols `running` in this attempt; return them."""
        return self._write_open("running")

    def mark_retrying(self, error: BaseException | str | None) -> list[str]:
        """Mark the open symbols `retrying` with the error; return them."""
        return self._write_open("retrying", error_message(error))

    def fail_open(self, error: BaseException | str | None) -> list[str]:
        """Mark the open symbols `failed` with the error; return them."""
        return self._write_open("failed", error_message(error))

    def record_success(self, symbol: str, inserted: int, updated: int) -> None:
        """Record that `symbol` was fetched and stored in this attempt."""
        self._write(
            symbol, "success", records_inserted=inserted, records_updated=updated
        )

    def record_failure(self, symbol: str, error: BaseException | str) -> None:
        """Record that `symbol` failed for good in this attempt."""
        self._write(symbol, "failed", error_message=error_message(error))

    def _settled(self, status: str, tries: int) -> bool:
        if status == "cancelled":
            return True
        return status in FINAL_STATUSES and tries >= self.first_attempt

    def _write_open(self, status: str, message: str | None = None) -> list[str]:
        symbols = self.open_symbols()
        for symbol in symbols:
            self._write(symbol, status, error_message=message)
        return symbols

    def _write(self, symbol: str, status: str, **values) -> None:
        if self.service is None:
            return
        # Every stock of a run's batch has its row from the start: a write for any
        # other symbol comes from the wrong batch and must not add a row to it.
        self.service.update_batch_detail(
            self.batch_id, symbol, status, attempt=self.attempt, create=False, **values
        )


def close_batch(
    service: BatchService | None,
    batch_id: int | None,
    *,
    status: str,
    reason: str,
) -> bool:
    """Fail the batch's unfinished stocks with `reason` and close it as `status`.

    A batch already final is left alone. Returns whether this call closed it.
    `reason` also becomes the batch's error message unless `status` is `completed`.
    """
    if service is None or batch_id is None:
        return False
    batch = service.get_batch(batch_id)
    if batch is None:
        raise KabuflowError(f"the run's batch {batch_id} does not exist")
    if batch.status in FINAL_BATCH_STATUSES:
        log.info("batch %s is already %s", batch_id, batch.status)
        return False

    left = service.finish_unfinished_details(batch_id, "failed", reason)
    if left:
        log.warning("batch %s: %d stocks had no result: %s", batch_id, left, reason)
    message = None if status == "completed" else reason
    service.complete_batch(batch_id, status, message)
    return True
