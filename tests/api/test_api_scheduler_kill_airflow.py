"""Case A6, second half: the scheduler killed with SIGKILL in the middle of a batch.

300 symbols, one task each, started through the API; 30 s in, `kill -9` the
scheduler while it is inside a metadata-database transaction, and start it again (its
executor workers and running tasks are left orphaned, as they would be on a real
crash; the workers hold the dead scheduler's connection, so its transaction and row
locks live on until PostgreSQL's idle-in-transaction timeout ends them). Every status
answer meanwhile is checked against Airflow's own view of the run: the API never
claims `running` for a run Airflow has ended. The batch must reach a final state,
every stock with it.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import psutil
import psycopg
import pytest
from airflow_fixtures import universe_symbols, wait_for
from live_api import BULK_DAG, FINAL, FINAL_RUN_STATES, UNFINISHED_DETAILS, start
from live_api import status as job_status
from replayed import sound_symbols

from kabuflow.stack.database import libpq_url

pytestmark = pytest.mark.airflow

WINDOW = {"interval": "1d", "start": "2021-01-04", "end": "2021-02-01"}
SYMBOLS = 300
KILL_AFTER_SECONDS = 30
FINAL_TIMEOUT = 720  # under pytest's 900 s, so a hang reports what Airflow had


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
    kill_inside_a_transaction(live, component_pid(live, "scheduler"))
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


def kill_inside_a_transaction(stack, pid: int, timeout: float = 30) -> None:
    """SIGKILL `pid` as soon as one of its metadata connections is in a transaction."""

    def ports_of() -> list[int]:
        connections = psutil.Process(pid).net_connections("tcp")
        return [c.laddr.port for c in connections if c.raddr and c.raddr.port == 5432]

    with psycopg.connect(
        libpq_url(stack.config.metadata_database_url), autocommit=True
    ) as conn:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT client_port FROM pg_stat_activity"
                " WHERE xact_start IS NOT NULL AND client_port = ANY(%s)",
                (ports_of(),),
            ).fetchall()
            if busy:
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.005)
    pytest.fail(f"the scheduler (pid {pid}) opened no transaction in {timeout} s")


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
        instances = Counter(
            (ti["task_id"], ti["state"], ti["try_number"])
            for ti in airflow.list_task_instances(BULK_DAG, job_id)
        )
    pytest.fail(
        f"job {job_id} not final {timeout} s after the restart: {seen[-1]}\n"
        f"task instances (task, state, try): {dict(instances)}\n"
        f"scheduler log:\n{stack.log_tail('scheduler', 40)}"
    )
