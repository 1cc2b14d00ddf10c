"""Stop a job: fail its Airflow run, then cancel its batch and every open stock.

Airflow fires no callback for a run stopped from outside, so the cancelled rows are
written here. Stopping a job that has already ended changes nothing and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from api.airflow_jobs import airflow_job
from api.batch_jobs import batch_facts, reconcile
from api.job_ids import JobRef
from api.jobs import locate_batch
from api.progress import FINAL_STATUSES, JobFacts
from api.services import services
from kabuflow.batches import Batch
from kabuflow.errors import AirflowNotFoundError

log = logging.getLogger(__name__)

STOP_REASON = "stopped through the API"


@dataclass(frozen=True)
class StopOutcome:
    """The job after a stop request, and what the request did."""

    job: JobFacts
    message: str


def stop_job(ref: JobRef) -> StopOutcome:
    """Stop the job a client named; raises `JobNotFoundError` if there is none.

    Raises `AirflowApiError` subclasses, leaving the record untouched, when Airflow
    cannot be told to stop the run.
    """
    batch = locate_batch(ref)
    if batch is None:
        return _stop_run_only(ref.job_id)
    return _stop_batch(batch)


def _stop_batch(batch: Batch) -> StopOutcome:
    batch = reconcile(batch)
    if batch.status in FINAL_STATUSES:
        return StopOutcome(batch_facts(batch), f"job already {batch.status}")

    if batch.job_id is not None:
        _fail_run(batch.dag_id or services().config["BULK_DAG_ID"], batch.job_id)
    batch = services().batches.cancel_batch(batch.id, STOP_REASON)

    log.info("stopped job %s (batch %s)", batch.job_id, batch.id)
    return StopOutcome(batch_facts(batch), "job stopped")


def _stop_run_only(job_id: str) -> StopOutcome:
    job = airflow_job(job_id)
    if job.status in FINAL_STATUSES:
        return StopOutcome(job, f"job already {job.status}")

    _fail_run(services().config["BULK_DAG_ID"], job_id)

    log.info("stopped job %s", job_id)
    return StopOutcome(airflow_job(job_id), "job stopped")


def _fail_run(dag_id: str, job_id: str) -> None:
    try:
        services().airflow().set_dag_run_state(dag_id, job_id, "failed")
    except AirflowNotFoundError:
        log.warning("run %s of %s is gone already; nothing to stop", job_id, dag_id)
