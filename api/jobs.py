"""Find a job by the id a client sent and tell where it stands.

With Phase 2 on, the batch record answers (made to agree with Airflow first); a job
id the record does not know is looked up in Airflow, where a run started while Phase 2
was off lives. With Phase 2 off, only job ids exist and Airflow alone answers.
"""

from __future__ import annotations

from api.airflow_jobs import airflow_job
from api.batch_jobs import batch_facts, find_batch, reconcile
from api.errors import JOB_NOT_FOUND_MESSAGE, JobNotFoundError
from api.job_ids import JobRef
from api.progress import JobFacts
from api.services import services
from kabuflow.batches import Batch


def current_job(ref: JobRef) -> JobFacts:
    """Return the job as it stands; raises `JobNotFoundError` if there is none.

    A job that has ended may come from the final-job cache (see `api.final_jobs`).
    """
    cache = services().final_jobs
    job = cache.get(ref)
    if job is not None:
        return job

    batch = locate_batch(ref)
    job = airflow_job(ref.job_id) if batch is None else batch_facts(reconcile(batch))

    cache.put(ref, job)
    return job


def locate_batch(ref: JobRef) -> Batch | None:
    """Return the job's batch, or None for a job that only Airflow knows.

    Raises `JobNotFoundError` for a batch id that names nothing.
    """
    if services().batches is None:
        if ref.job_id is None:
            raise JobNotFoundError("batch ids exist only with ENABLE_PHASE2=true")
        return None
    batch = find_batch(ref)
    if batch is None and ref.job_id is None:
        raise JobNotFoundError(JOB_NOT_FOUND_MESSAGE)
    return batch
