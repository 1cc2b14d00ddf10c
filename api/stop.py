"""Stop a job: fail its Airflow run, then cancel its batch and every open stock.

Airflow fires no callback for a run stopped from outside, so the cancelled rows are
written here. Stopping a job that has already ended changes nothing and says so.

What Airflow 3.3.2 does with the stop (`PATCH dagRuns/<id> {"state": "failed"}`), seen
here: running instances are failed and their processes end within seconds, waiting
ones are skipped, but (a) every instance of a mapped task that had one running is
failed, those that had succeeded included, and (b) instances the scheduler creates
or schedules while the stop is applied (a map expanding) stay `scheduled` in the
failed run. The batch record is ours and stays true whatever (a) shows in the UI;
(b) is swept here: the stop is sent again until nothing of the run waits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from api.airflow_jobs import STOP_NOTE, airflow_job
from api.batch_jobs import batch_facts, reconcile
from api.job_ids import JobRef
from api.jobs import locate_batch
from api.progress import FINAL_STATUSES, JobFacts
from api.services import services
from kabuflow.batches import Batch
from kabuflow.errors import AirflowNotFoundError

log = logging.getLogger(__name__)

STOP_REASON = STOP_NOTE
# Task instance states of a stopped run that still wait to run (see the module doc).
WAITING_STATES = frozenset({None, "scheduled", "queued", "up_for_retry"})
# Seconds before each new stop while instances still wait; then the stop returns.
SWEEP_DELAYS = (0.5, 1.0, 2.0)


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
    airflow = services().airflow()
    try:
        airflow.set_dag_run_state(dag_id, job_id, "failed", note=STOP_NOTE)
        for delay in SWEEP_DELAYS:
            waiting = _waiting(airflow.list_task_instances(dag_id, job_id))
            if not waiting:
                return
            log.info(
                "run %s: %d task instances still wait; stopping again",
                job_id,
                len(waiting),
            )
            time.sleep(delay)
            airflow.set_dag_run_state(dag_id, job_id, "failed", note=STOP_NOTE)
    except AirflowNotFoundError:
        log.warning("run %s of %s is gone already; nothing to stop", job_id, dag_id)


def _waiting(instances: list[dict]) -> list[dict]:
    return [ti for ti in instances if ti.get("state") in WAITING_STATES]
