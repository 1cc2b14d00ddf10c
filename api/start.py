"""Start a bulk job: record the batch, then trigger the `bulk_fetch` run.

The job id is the run id (`job-<epoch ms>`). An id someone already holds, in the
batch record or in Airflow, is never the client's problem: the next millisecond is
tried instead. A batch whose run could not be triggered is closed as failed with the
reason, so no batch claims to run for a run that does not exist.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass

from api.errors import ServiceUnavailableError
from api.services import services
from kabuflow.bulk_request import BulkRequest, window_to_dict
from kabuflow.errors import (
    AirflowApiError,
    AirflowConflictError,
    AirflowRejectedError,
    AirflowUnavailableError,
    InvalidRequestError,
)

log = logging.getLogger(__name__)

MAX_ID_ATTEMPTS = 20


@dataclass(frozen=True)
class StartedJob:
    """A job Airflow has accepted."""

    job_id: str
    batch_id: int | None


def start_job(request: BulkRequest) -> StartedJob:
    """Record and trigger one bulk job for a validated request.

    Raises `InvalidRequestError` if Airflow's DAG refuses the conf, and
    `AirflowApiError` subclasses (503 to clients) when the run cannot be created.
    """
    for _ in range(MAX_ID_ATTEMPTS):
        job_id = services().job_ids.next_id()
        try:
            batch_id = _reserve_batch(job_id, request)
            _trigger(job_id, dataclasses.replace(request, batch_id=batch_id))
        except _JobIdTaken:
            log.info("job id %s is taken; trying the next one", job_id)
            continue
        log.info(
            "started job %s (batch %s, %d symbols)",
            job_id,
            batch_id,
            len(request.symbols),
        )
        return StartedJob(job_id, batch_id)
    raise ServiceUnavailableError("no free job id was found; try again")


class _JobIdTaken(Exception):
    """Another job holds this id already."""


def _reserve_batch(job_id: str, request: BulkRequest) -> int | None:
    """Create the job's batch; return its id (None without Phase 2).

    Raises `_JobIdTaken` when a batch exists for `job_id` already.
    """
    batches = services().batches
    if batches is None:
        return None
    # create_batch hands back an existing batch for a job id already taken, so a
    # token of this request in the parameters tells whose batch came back.
    token = uuid.uuid4().hex
    parameters = {
        **window_to_dict(request.window),
        "symbols_per_task": request.symbols_per_task,
        "request_token": token,
    }

    batch_id = batches.create_batch(
        services().config["BULK_DAG_ID"],
        symbols=request.symbols,
        job_id=job_id,
        dag_id=services().config["BULK_DAG_ID"],
        parameters=parameters,
    )
    if batches.get_batch(batch_id).parameters.get("request_token") != token:
        raise _JobIdTaken(job_id)
    return batch_id


def _trigger(job_id: str, request: BulkRequest) -> None:
    """Trigger the run; raises `_JobIdTaken` if Airflow has a run with this id."""
    dag_id = services().config["BULK_DAG_ID"]
    try:
        services().airflow().trigger_dag_run(dag_id, job_id, request.to_conf())
    except AirflowConflictError:
        _fail_batch(request.batch_id, "the job id was taken by another Airflow run")
        raise _JobIdTaken(job_id) from None
    except AirflowUnavailableError as err:
        if _run_exists(dag_id, job_id):
            log.warning("trigger of %s looked lost but the run exists: %s", job_id, err)
            return
        _fail_batch(request.batch_id, f"Airflow could not create the run: {err}")
        raise
    except AirflowRejectedError as err:
        _fail_batch(request.batch_id, f"Airflow refused the run: {err.detail}")
        raise InvalidRequestError(
            "request", f"refused by Airflow: {err.detail}"
        ) from err
    except AirflowApiError as err:
        _fail_batch(request.batch_id, f"Airflow could not create the run: {err}")
        raise


def _run_exists(dag_id: str, job_id: str) -> bool:
    """Return whether Airflow has the run, False when it cannot say either."""
    try:
        services().airflow().get_dag_run(dag_id, job_id)
    except AirflowApiError:
        return False
    return True


def _fail_batch(batch_id: int | None, reason: str) -> None:
    if batch_id is None:
        return
    batches = services().batches

    batches.finish_unfinished_details(batch_id, "failed", reason)
    batches.complete_batch(batch_id, "failed", reason)
    log.warning("batch %s failed before its run started: %s", batch_id, reason)
