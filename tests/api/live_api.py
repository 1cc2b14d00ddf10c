"""Helpers of the API tests that drive the real Airflow stack (importable anywhere).

A job is driven through a Flask test client of an app wired to the session's stack;
Airflow's own view of the run is read with the stack's REST client; the prices a
finished stock should have stored are counted with `replayed`.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import psutil
import pytest
from api_helpers import auth

from kabuflow.stack.processes import session_members

FINAL = {"completed", "failed", "cancelled"}
FINAL_RUN_STATES = {"success", "failed"}
ALIVE_TASK_STATES = {
    "running",
    "queued",
    "scheduled",
    "restarting",
    "up_for_retry",
    "up_for_reschedule",
    "deferred",
}
UNFINISHED_DETAILS = {"pending", "running", "retrying"}
BULK_DAG = "bulk_fetch"


def start(client, symbols, window, **extra) -> dict:
    """Start a job over `window` (interval and dates); return the 202 answer."""
    body = {"symbols": symbols, **window, **extra}
    response = client.post("/api/bulk/start", json=body, headers=auth())
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def status(client, ref) -> dict:
    """Return the `job` of a 200 status answer."""
    response = client.get(f"/api/bulk/status/{ref}", headers=auth())
    assert response.status_code == 200, response.get_json()
    return response.get_json()["job"]


def stop(client, ref) -> dict:
    """Stop the job; return the 200 answer."""
    response = client.post(f"/api/bulk/stop/{ref}", headers=auth())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def poll_until_final(client, ref, timeout: float) -> list[dict]:
    """Poll the status until it is final; return every answer seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(status(client, ref))
        if seen[-1]["status"] in FINAL:
            return seen
        time.sleep(0.5)
    pytest.fail(f"job {ref} not final after {timeout} s: {seen[-1]}")


def task_instances(live, job_id: str) -> list[dict]:
    """Return every task instance of the job's run, as Airflow lists them."""
    with live.client() as client:
        return client.list_task_instances(BULK_DAG, job_id)


def alive_tasks(live, job_id: str) -> list[dict]:
    """Return the job's task instances that still run or wait to run."""
    return [
        ti for ti in task_instances(live, job_id) if ti["state"] in ALIVE_TASK_STATES
    ]


def run_state(live, job_id: str) -> str:
    with live.client() as client:
        return client.get_dag_run(BULK_DAG, job_id)["state"]


def utc(raw: str | None) -> dt.datetime | None:
    return None if raw is None else dt.datetime.fromisoformat(raw)


def task_processes(stack) -> list[psutil.Process]:
    """Return the stack's live task processes, a killed scheduler's orphans included.

    A task process leads a process group of its own inside a scheduler session.
    """
    sessions = stack.component_sessions("scheduler")
    found = []
    for proc in session_members(sessions):
        try:
            if os.getpgid(proc.pid) == proc.pid and proc.pid not in sessions:
                found.append(proc)
        except ProcessLookupError:
            continue  # it ended while we looked
    return found
