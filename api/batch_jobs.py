"""Read a job from the batch record (Phase 2), made to agree with Airflow first.

A batch row that says `running` is only believed while Airflow's run is unfinished:
when the run has ended or is gone (a scheduler killed mid-run, a run deleted), the
batch is closed here before anyone is told it still runs. A final batch is answered
from the database alone.
"""

from __future__ import annotations

import logging

from api.errors import JOB_NOT_FOUND_MESSAGE, JobNotFoundError
from api.job_ids import JobRef
from api.progress import JobFacts
from api.services import services
from kabuflow.batches import FINAL_BATCH_STATUSES, Batch
from kabuflow.errors import AirflowNotFoundError

log = logging.getLogger(__name__)

_RUN_GONE = "the Airflow run no longer exists"
# Airflow run state (None: no such run) -> batch status, batch reason, and the
# reason given to each stock left open.
_CLOSING = {
    "success": ("completed", None, "the Airflow run ended without a result for it"),
    "failed": ("failed", "the Airflow run failed", "the Airflow run failed before it"),
    None: ("failed", _RUN_GONE, _RUN_GONE),
}


def find_batch(ref: JobRef) -> Batch | None:
    """Return the batch a client named, or None."""
    batches = services().batches
    if ref.batch_id is not None:
        return batches.get_batch(ref.batch_id)
    return batches.get_batch_by_job_id(ref.job_id)


def require_batch(ref: JobRef) -> Batch:
    """Return the batch a client named; raises `JobNotFoundError` if none."""
    batch = find_batch(ref)
    if batch is None:
        raise JobNotFoundError(JOB_NOT_FOUND_MESSAGE)
    return batch


def reconcile(batch: Batch) -> Batch:
    """Return the batch, closed first if Airflow has finished or lost its run.

    Raises `AirflowApiError` subclasses when Airflow cannot tell (unreachable).
    """
    if batch.status in FINAL_BATCH_STATUSES or batch.job_id is None:
        return batch

    state = run_state(batch)
    if state not in _CLOSING:
        return batch
    return _close(batch, state)


def run_state(batch: Batch) -> str | None:
    """Return the state of the batch's Airflow run, None if Airflow has no such run."""
    dag_id = batch.dag_id or services().config["BULK_DAG_ID"]
    try:
        return services().airflow().get_dag_run(dag_id, batch.job_id)["state"]
    except AirflowNotFoundError:
        return None


def batch_facts(batch: Batch) -> JobFacts:
    """Reduce a batch row to what the status answer shows."""
    return JobFacts(
        job_id=batch.job_id,
        batch_db_id=batch.id,
        status=batch.status,
        total=batch.total_stocks,
        processed=batch.processed_stocks,
        successful=batch.successful_stocks,
        failed=batch.failed_stocks,
        started_at=batch.start_time,
        ended_at=batch.end_time,
        created_at=batch.created_at,
        updated_at=batch.updated_at,
    )


def _close(batch: Batch, state: str | None) -> Batch:
    status, batch_reason, stock_reason = _CLOSING[state]
    log.warning(
        "batch %s is %s but its Airflow run %s is %s: closing it as %s",
        batch.id,
        batch.status,
        batch.job_id,
        state or "gone",
        status,
    )
    batches = services().batches

    closed = batches.finish_unfinished_details(batch.id, "failed", stock_reason)
    if closed and batch_reason is None:
        batch_reason = f"{closed} stocks had no result when the Airflow run ended"
    return batches.complete_batch(batch.id, status, batch_reason)
