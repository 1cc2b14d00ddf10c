"""Make job ids (`job-<epoch ms>`, the Airflow run id) and read ids clients send."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from api.errors import JOB_NOT_FOUND_MESSAGE, JobNotFoundError

JOB_ID_PREFIX = "job-"
# batch_executions.id is a SERIAL: a larger number cannot name a batch.
MAX_BATCH_ID = 2**31 - 1
MAX_JOB_ID_LENGTH = 250
_BATCH_ID = re.compile(r"[0-9]+")
# Airflow's default `allowed_run_id_pattern`; its own scheduled run ids match it too.
# An id outside it can name no run, and may hold what PostgreSQL refuses (a NUL byte).
_JOB_ID = re.compile(r"[A-Za-z0-9_.~:+-]+")


class JobIdClock:
    """Hand out job ids that never repeat within this process.

    Two calls in the same millisecond get consecutive milliseconds, so a caller that
    hits a collision with another process simply asks again.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def next_id(self) -> str:
        """Return a fresh `job-<epoch ms>` id."""
        with self._lock:
            self._last = max(int(self._clock() * 1000), self._last + 1)
            return f"{JOB_ID_PREFIX}{self._last}"


@dataclass(frozen=True)
class JobRef:
    """What a client named: a batch by its number or a job by its run id."""

    batch_id: int | None = None
    job_id: str | None = None


def parse_job_ref(raw: str) -> JobRef:
    """Read a status/stop id: digits are a `batch_db_id`, anything else a job id.

    Raises `JobNotFoundError` for an id that can name nothing.
    """
    if _BATCH_ID.fullmatch(raw):
        if int(raw) > MAX_BATCH_ID:
            raise JobNotFoundError(JOB_NOT_FOUND_MESSAGE)
        return JobRef(batch_id=int(raw))
    if len(raw) > MAX_JOB_ID_LENGTH or not _JOB_ID.fullmatch(raw):
        raise JobNotFoundError(JOB_NOT_FOUND_MESSAGE)
    return JobRef(job_id=raw)
