"""Airflow callbacks that keep the batch record true while a run goes on.

Task callbacks fire in the task's own process, once per attempt: `on_execute` before
the work, `on_retry` after a failed attempt with retries left, `on_failure` after the
last one, `on_success` after a good one. They write only the *open* symbols of the
task's group (see `kabuflow.run_record`), so they never overwrite a result the task
recorded itself.

The DAG-level callback runs in the dag-processor about half a second after the run
ends. It is the only code that still runs after a task was killed hard (SIGKILL, out
of memory) or after `finalize_batch` failed: it fails every stock still without a
final row and closes the batch as `failed`. When `finalize_batch` closed the batch
already, it does nothing.

A callback's own failure is logged with its traceback and never changes a task's
state.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from kabuflow.run_record import (
    GroupProgress,
    batch_of_run,
    batch_service,
    close_batch,
    error_message,
)

log = logging.getLogger(__name__)

Context = dict[str, Any]


def _logged(callback: Callable[[Context], None]) -> Callable[[Context], None]:
    @functools.wraps(callback)
    def run(context: Context) -> None:
        try:
            callback(context)
        except Exception:
            log.exception(
                "callback %s failed for run %s task %s",
                callback.__name__,
                context.get("run_id"),
                _task_label(context),
            )

    return run


@_logged
def fetch_started(context: Context) -> None:
    """Mark the task's open symbols `running` in this attempt."""
    progress = _progress(context)
    if progress is not None:
        progress.mark_running()


@_logged
def fetch_retrying(context: Context) -> None:
    """Mark the open symbols `retrying`, with the attempt number and the error."""
    progress = _progress(context)
    if progress is not None:
        symbols = progress.mark_retrying(context.get("exception"))
        log.warning(
            "attempt %s failed; %d symbols retry", progress.attempt, len(symbols)
        )


@_logged
def fetch_failed(context: Context) -> None:
    """Mark the open symbols `failed` with the task's error."""
    progress = _progress(context)
    if progress is not None:
        symbols = progress.fail_open(context.get("exception"))
        log.warning("task failed for good; %d open symbols failed", len(symbols))


@_logged
def fetch_succeeded(context: Context) -> None:
    """Check that the task left no open symbol; fail any it did, as a bug."""
    progress = _progress(context)
    if progress is None:
        return
    left = progress.fail_open("the task succeeded without recording this stock")
    if left:
        log.error("task succeeded but left %s without a result", left)


@_logged
def prepare_failed(context: Context) -> None:
    """Fail the run's batch, if it has one, with the reason the run could not start."""
    service = batch_service()
    batch_id = batch_of_run(service, context["run_id"], _params(context))
    reason = error_message(context.get("exception"))
    if close_batch(service, batch_id, status="failed", reason=reason):
        log.warning(
            "batch %s failed before any stock was fetched: %s", batch_id, reason
        )


@_logged
def run_finished(context: Context) -> None:
    """Close the run's batch as `failed` if `finalize_batch` did not close it."""
    service = batch_service()
    batch_id = batch_of_run(service, context["run_id"], _params(context))
    reason = (
        f"the run ended ({context.get('reason') or 'no reason given'}) before "
        "finalize_batch recorded this stock"
    )
    if close_batch(service, batch_id, status="failed", reason=reason):
        log.warning("batch %s closed by the DAG callback: %s", batch_id, reason)


def first_attempt_of_cycle(context: Context) -> int:
    """Return the first try number of the task instance's current cycle.

    Clearing a task sets `max_tries` to its last try plus `retries` (see
    `kabuflow.run_record`).
    """
    ti, task = context["ti"], context["task"]
    return ti.max_tries - task.retries + 1


def _progress(context: Context) -> GroupProgress | None:
    group = _group(context)
    if group is None:
        log.warning(
            "no symbol group for task %s: nothing recorded", _task_label(context)
        )
        return None
    symbols, run = group
    return GroupProgress(
        batch_service(),
        run["batch_id"],
        symbols,
        attempt=context["ti"].try_number,
        first_attempt=first_attempt_of_cycle(context),
    )


def _group(context: Context) -> tuple[list[str], dict] | None:
    # The task's arguments, resolved for this task instance; absent when Airflow
    # builds the context without running the task (a dead task's callback).
    kwargs = getattr(context.get("task"), "op_kwargs", None) or {}
    symbols, run = kwargs.get("symbols"), kwargs.get("run")
    if isinstance(symbols, list) and isinstance(run, dict) and "batch_id" in run:
        return symbols, run
    return None


def _params(context: Context) -> dict:
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    return {**(context.get("params") or {}), **conf}


def _task_label(context: Context) -> str:
    ti = context.get("ti")
    if ti is None:
        return "(none)"
    return f"{ti.task_id}[{ti.map_index}]"
