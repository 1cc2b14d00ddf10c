"""Case A6, second half: the scheduler killed with SIGKILL in the middle of a batch.

300 symbols, one task each, started through the API; 30 s in, `kill -9` the
scheduler and start it again (its executor workers and running tasks are left
orphaned, as they would be on a real crash). Every status answer meanwhile is checked
against Airflow's own view of the run: the API never claims `running` for a run
Airflow has ended. The batch must reach a final state, every stock with it.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from airflow_fixtures import universe_symbols, wait_for
from live_api import BULK_DAG, FINAL, FINAL_RUN_STATES, UNFINISHED_DETAILS, start
from live_api import status as job_status
from replayed import sound_symbols

pytestmark = pytest.mark.airflow

WINDOW = {"interval": "1d", "start": "2021-01-04", "end": "2021-02-01"}
SYMBOLS = 300
KILL_AFTER_SECONDS = 30
FINAL_TIMEOUT = 900


def component_pid(stack, name: str) -> int | None:
    [component] = [c for c in stack.status().components if c.name == name]
    return component.pid


def test_a6_a_scheduler_killed_mid_batch_and_started_again(
    make_live_app, live, live_batches, airflow_replay
):
    symbols = sound_symbols(
        airflow_replay, universe_symbols(airflow_replay, SYMBOLS), WINDOW, SYMBOLS
    )
    client = make_live_app().test_client()
    started = start(client, symbols, WINDOW)
    time.sleep(KILL_AFTER_SECONDS)

    before_kill = job_status(client, started["job_id"])
    os.kill(component_pid(live, "scheduler"), signal.SIGKILL)
    wait_for(lambda: component_pid(live, "scheduler") is None, 30, "the kill", 0.2)
    while_down = job_status(client, started["job_id"])
    live.start_component("scheduler")
    seen = poll_agreeing_with_airflow(live, client, started["job_id"], FINAL_TIMEOUT)

    assert (
        before_kill["status"] == "running"
        and 0 < before_kill["progress"]["processed"] < SYMBOLS
    ), "the kill must land in the middle of the batch"
    assert while_down["status"] == "running"  # Airflow still has the run
    job = seen[-1]
    assert job["status"] in FINAL
    batch = live_batches.get_batch(started["batch_db_id"])
    details = live_batches.get_batch_details(batch.id)
    assert batch.status == job["status"]
    assert len(details) == SYMBOLS
    assert not {d.status for d in details} & UNFINISHED_DETAILS
    successful = sum(d.status == "success" for d in details)
    assert (batch.successful_stocks, batch.failed_stocks) == (
        successful,
        SYMBOLS - successful,
    )
    processed = [answer["progress"]["processed"] for answer in seen]
    assert processed == sorted(processed)


def poll_agreeing_with_airflow(stack, client, job_id: str, timeout: float) -> list:
    """Poll the job until it is final, checking each answer against Airflow's run."""
    seen = []
    deadline = time.monotonic() + timeout
    with stack.client() as airflow:
        while time.monotonic() < deadline:
            run_before = airflow.get_dag_run(BULK_DAG, job_id)["state"]
            seen.append(job_status(client, job_id))
            if run_before in FINAL_RUN_STATES:
                assert seen[-1]["status"] in FINAL, (run_before, seen[-1])
            if seen[-1]["status"] in FINAL:
                return seen
            time.sleep(1)
    pytest.fail(f"job {job_id} not final {timeout} s after the restart: {seen[-1]}")
