"""Compose the `job` object of the status answer, whatever the job's source.

The batch record (Phase 2) and Airflow alone (Phase 1) both reduce a job to a
`JobFacts`; one function turns that into the shape existing clients read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class JobFacts:
    """A job's state reduced to what the status answer needs (times tz-aware)."""

    job_id: str | None
    batch_db_id: int | None
    status: str
    total: int
    processed: int
    successful: int
    failed: int
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


def job_view(facts: JobFacts, now: datetime) -> dict[str, Any]:
    """Return the `job` object existing clients read, measured at `now`."""
    return {
        "id": facts.job_id,
        "batch_db_id": facts.batch_db_id,
        "status": facts.status,
        "progress": _progress(facts, now),
        "created_at": _iso(facts.created_at),
        "updated_at": _iso(facts.updated_at),
        "summary": _summary(facts, now),
    }


def _progress(facts: JobFacts, now: datetime) -> dict[str, Any]:
    elapsed = _elapsed(facts, now)
    # Stocks fetched, not stocks closed: a stop closes the open ones all at once, and
    # those `cancelled` (processed - successful - failed) were never fetched.
    fetched = facts.successful + facts.failed
    rate = fetched / elapsed if elapsed > 0 else 0.0
    return {
        "total": facts.total,
        "processed": facts.processed,
        "successful": facts.successful,
        "failed": facts.failed,
        "progress_percentage": _percentage(facts),
        "elapsed_time": round(elapsed, 3),
        "stocks_per_second": round(rate, 3),
        "estimated_completion": _iso(_estimated_completion(facts, now, rate)),
    }


def _summary(facts: JobFacts, now: datetime) -> dict[str, Any] | None:
    if facts.status not in FINAL_STATUSES:
        return None
    return {
        "total_symbols": facts.total,
        "successful": facts.successful,
        "failed": facts.failed,
        "duration_seconds": round(_elapsed(facts, now), 3),
    }


def _elapsed(facts: JobFacts, now: datetime) -> float:
    if facts.started_at is None:
        return 0.0
    end = facts.ended_at or now
    return max((end - facts.started_at).total_seconds(), 0.0)


def _percentage(facts: JobFacts) -> float:
    if facts.total == 0:
        return 100.0 if facts.status in FINAL_STATUSES else 0.0
    return round(min(facts.processed / facts.total, 1.0) * 100, 2)


def _estimated_completion(
    facts: JobFacts, now: datetime, rate: float
) -> datetime | None:
    """Return when the job ended, or when it will at its rate so far (None: unknown)."""
    if facts.status in FINAL_STATUSES:
        return facts.ended_at
    if rate <= 0:
        return None
    remaining = max(facts.total - facts.processed, 0)
    return now + timedelta(seconds=remaining / rate)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
