"""Read a job from Airflow alone, for `ENABLE_PHASE2=false` (no batch record).

Progress comes from the task instances of the mapped fetch task. A running mapped
instance does not yet carry its symbols (`rendered_map_index` is filled only when it
finishes), so each instance is mapped back to its symbols through the run's conf: the
symbol list cut into `symbols_per_task` slices, slice `map_index`. A group counts by its
task's state, so with several symbols per task one failure fails the whole group.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from api.errors import JOB_NOT_FOUND_MESSAGE, JobNotFoundError
from api.progress import JobFacts
from api.services import services
from kabuflow.errors import AirflowNotFoundError

FETCH_TASK_ID = "fetch_prices"
SUCCESS_STATES = frozenset({"success"})
FAILED_STATES = frozenset({"failed", "upstream_failed"})
# A run stopped from outside leaves its waiting tasks skipped (DESIGN decision 7).
CANCELLED_STATES = frozenset({"skipped", "removed"})
SETTLED_STATES = SUCCESS_STATES | FAILED_STATES
_RUN_STATUS = {"queued": "running", "running": "running", "success": "completed"}
# The note a stop through the API leaves on the run (api.stop), shown in the UI.
STOP_NOTE = "stopped through the API"


def airflow_job(job_id: str) -> JobFacts:
    """Return the job's state as Airflow knows it; raises `JobNotFoundError` if none."""
    client = services().airflow()
    dag_id = services().config["BULK_DAG_ID"]
    try:
        run = client.get_dag_run(dag_id, job_id)
        instances = client.list_task_instances(dag_id, job_id)
    except AirflowNotFoundError as err:
        raise JobNotFoundError(JOB_NOT_FOUND_MESSAGE) from err

    return run_facts(run, instances)


def run_facts(run: dict[str, Any], instances: Iterable[dict[str, Any]]) -> JobFacts:
    """Reduce an Airflow run and its task instances to what the status answer shows."""
    conf = run.get("conf") or {}
    symbols = conf.get("symbols") or []
    per_task = max(int(conf.get("symbols_per_task") or 1), 1)
    fetches = [ti for ti in instances if ti.get("task_id") == FETCH_TASK_ID]
    counts = _count(fetches, len(symbols), per_task)
    status = _status(run.get("state"), run.get("note"), fetches)
    if status in ("completed", "failed", "cancelled"):
        # Airflow has ended the run: a group it never ran is settled too.
        counts["processed"] = len(symbols)

    return JobFacts(
        job_id=run.get("dag_run_id"),
        batch_db_id=None,
        status=status,
        total=len(symbols),
        started_at=_time(run.get("start_date")) or _time(run.get("queued_at")),
        ended_at=_time(run.get("end_date")),
        created_at=_time(run.get("queued_at")) or _time(run.get("run_after")),
        updated_at=_latest(run, fetches),
        **counts,
    )


def _count(fetches: list[dict], total: int, per_task: int) -> dict[str, int]:
    successful = failed = processed = 0
    for ti in fetches:
        size = _group_size(ti.get("map_index", -1), total, per_task)
        state = ti.get("state")
        if state in SUCCESS_STATES:
            successful += size
        elif state in FAILED_STATES:
            failed += size
        if state in SETTLED_STATES | CANCELLED_STATES:
            processed += size
    return {"processed": processed, "successful": successful, "failed": failed}


def _group_size(map_index: int, total: int, per_task: int) -> int:
    if map_index is None or map_index < 0:
        # The task never expanded: it stands for every symbol.
        return total
    start = map_index * per_task
    return max(min(start + per_task, total) - start, 0)


def _status(state: str | None, note: str | None, fetches: list[dict]) -> str:
    if state in _RUN_STATUS:
        return _RUN_STATUS[state]
    if state != "failed":
        return "running"
    if note == STOP_NOTE:
        return "cancelled"
    # Stopped from outside the API (the UI): a run that fails on its own settles every
    # task first, one stopped leaves fetches skipped or never run. Airflow 3.3 can
    # hide that, since stopping fails every instance of a mapped task that runs.
    stopped = any(ti.get("state") not in SETTLED_STATES for ti in fetches)
    return "cancelled" if stopped else "failed"


def _latest(run: dict, fetches: list[dict]) -> datetime | None:
    moments = [_time(run.get(key)) for key in ("queued_at", "start_date", "end_date")]
    for ti in fetches:
        moments += [_time(ti.get("start_date")), _time(ti.get("end_date"))]
    known = [moment for moment in moments if moment is not None]
    return max(known, default=None)


def _time(raw: str | None) -> datetime | None:
    return None if not raw else datetime.fromisoformat(raw)
