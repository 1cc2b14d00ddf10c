"""`bulk_fetch` on the real Airflow processes, triggered through Airflow's REST API.

The session's stack (`airflow_fixtures`) runs the product DAG against the session's
replay server and app database. These runs create their own batch (no `batch_id` in
the conf), as a run started from the Airflow UI does. Large runs draw on the recorded
universe of `../shared/data/` and skip without it.

Measured on Airflow 3.3.2 here, and what the SIGKILL test relies on: a task process
killed with SIGKILL runs none of its callbacks, and Airflow fails that attempt and
retries it like any other failure. A stock therefore loses its task for good only
when every attempt dies; `finalize_batch` (trigger rule `all_done`) then closes it,
and if `finalize_batch` dies as well, the DAG-level callback in the dag-processor
does.
"""

from __future__ import annotations

import os
import signal
import time
from itertools import count

import psutil
import psycopg
import pytest
from airflow_fixtures import universe_symbols, wait_for, wait_for_dag, wait_for_run
from replayed import recorded_bars, sound_symbols, stored_rows
from request_cases import MALFORMED_IDS, MALFORMED_REQUESTS

from kabuflow.batches import BatchService
from kabuflow.errors import AirflowNotFoundError, AirflowRejectedError
from kabuflow.fetch_tasks import FETCH_RETRIES, NO_RESULT
from kabuflow.stack.processes import session_members

pytestmark = pytest.mark.airflow

DAG = "bulk_fetch"
FINAL_DETAILS = {"success", "failed"}
# Windows no other test of the session asks for (a history re-fetch may still store
# bars in them: a dividend new to stored history fetches everything, case Y8).
GROUPED_WINDOW = {"interval": "1d", "start": "2020-10-01", "end": "2021-01-01"}
PER_STOCK_WINDOW = {"interval": "1d", "start": "2021-07-01", "end": "2021-08-01"}
# Saturday and Sunday: no Tokyo session.
WEEKEND_WINDOW = {"interval": "1d", "start": "2022-09-10", "end": "2022-09-12"}
KILL_WINDOW = {"interval": "1d", "start": "2021-08-02", "end": "2021-08-10"}
_runs = count(1)


def run_id(label: str) -> str:
    return f"test-{label}-{time.time_ns()}-{next(_runs)}"


@pytest.fixture
def bulk(airflow_client):
    """The REST client, once `bulk_fetch` is parsed (DAGs start unpaused here)."""
    wait_for_dag(airflow_client, DAG)
    return airflow_client


@pytest.fixture
def replay(airflow_replay):
    """The session's replay server, its scenario cleared after the test."""
    yield airflow_replay
    airflow_replay.set_scenario({})


def trigger(client, label: str, symbols: list[str], window: dict, **conf) -> str:
    job = run_id(label)
    client.trigger_dag_run(DAG, job, {"symbols": symbols, **window, **conf})
    return job


def batch_record(database_url: str, job: str):
    """Return the run's batch and its detail rows, by symbol."""
    service = BatchService(database_url)
    batch = service.get_batch_by_job_id(job)
    assert batch is not None, f"run {job} wrote no batch"
    return batch, {d.stock_code: d for d in service.get_batch_details(batch.id)}


def assert_record_is_true(batch, details: dict, symbols: list[str]) -> None:
    """One final row per stock, and counters that count exactly those rows."""
    assert sorted(details) == sorted(symbols)
    statuses = [d.status for d in details.values()]
    assert set(statuses) <= FINAL_DETAILS
    assert batch.total_stocks == len(symbols)
    assert batch.successful_stocks == statuses.count("success")
    assert batch.failed_stocks == statuses.count("failed")
    assert batch.processed_stocks == len(symbols)


def test_1500_symbols_in_groups_of_50(bulk, replay, database_url):
    symbols = sound_symbols(
        replay, universe_symbols(replay, 1500), GROUPED_WINDOW, 1500
    )

    job = trigger(bulk, "grouped", symbols, GROUPED_WINDOW, symbols_per_task=50)
    run = wait_for_run(bulk, DAG, job, timeout=900)
    batch, details = batch_record(database_url, job)

    assert run["state"] == "success"
    assert batch.status == "completed" and batch.batch_type == DAG
    assert_record_is_true(batch, details, symbols)
    assert batch.successful_stocks == 1500
    fetches = [t for t in bulk.list_task_instances(DAG, job) if t["map_index"] >= 0]
    assert len(fetches) == 30 and {t["state"] for t in fetches} == {"success"}
    stored = stored_rows(database_url, symbols, GROUPED_WINDOW)
    recorded = {s: recorded_bars(replay, s, GROUPED_WINDOW) for s in symbols}
    assert stored == recorded
    # A stock may have had bars of this window already: another test's run that met
    # a dividend new to stored history fetched its whole history again (case Y8).
    assert all(0 <= details[s].records_inserted <= recorded[s] for s in symbols)
    assert sum(d.records_inserted for d in details.values()) > 0


def test_30_symbols_one_task_each_named_after_its_symbol(bulk, replay, database_url):
    symbols = sound_symbols(
        replay, universe_symbols(replay, 30)[::-1], PER_STOCK_WINDOW, 30
    )

    job = trigger(bulk, "per-stock", symbols, PER_STOCK_WINDOW)
    run = wait_for_run(bulk, DAG, job, timeout=600)
    batch, details = batch_record(database_url, job)

    assert run["state"] == "success" and batch.status == "completed"
    assert_record_is_true(batch, details, symbols)
    assert {d.attempts for d in details.values()} == {1}
    fetches = sorted(
        (t for t in bulk.list_task_instances(DAG, job) if t["map_index"] >= 0),
        key=lambda t: t["map_index"],
    )
    assert [t["rendered_map_index"] for t in fetches] == symbols
    assert stored_rows(database_url, symbols, PER_STOCK_WINDOW) == {
        s: recorded_bars(replay, s, PER_STOCK_WINDOW) for s in symbols
    }


def test_a1_4000_symbols_map_beyond_airflows_default_limit(bulk, replay, database_url):
    """Case A1: 4,000 symbols in 1,334 mapped instances, past Airflow's default 1,024.

    Every task instance is a real process (about 0.4 s of this machine's two cores
    each, which is why the instances hold 3 symbols rather than 1). The window is a
    weekend, so each stock is settled as "no data expected" without a request:
    what this case tests is the map, not the fetch.
    """
    listed = universe_symbols(replay, 3000)
    unlisted = [f"{code}Z.T" for code in range(1000, 1000 + 4000 - len(listed))]
    symbols = listed + unlisted

    job = trigger(bulk, "wide", symbols, WEEKEND_WINDOW, symbols_per_task=3)
    run = wait_for_run(bulk, DAG, job, timeout=1800)
    batch, details = batch_record(database_url, job)

    assert run["state"] == "success" and batch.status == "completed"
    assert_record_is_true(batch, details, symbols)
    assert batch.successful_stocks == 4000
    fetches = [t for t in bulk.list_task_instances(DAG, job) if t["map_index"] >= 0]
    assert len(fetches) == 1334 > 1024
    assert {t["state"] for t in fetches} == {"success"}
    assert stored_rows(database_url, symbols, WEEKEND_WINDOW) == dict.fromkeys(
        symbols, 0
    )


@pytest.mark.parametrize(("conf", "field"), MALFORMED_REQUESTS, ids=MALFORMED_IDS)
def test_a5_the_param_schema_refuses_a_malformed_conf(bulk, conf, field):
    """Case A5 (and A2's empty list), triggered on Airflow directly: 400, no run."""
    job = run_id("bad-conf")

    with pytest.raises(AirflowRejectedError) as refused:
        bulk.trigger_dag_run(DAG, job, conf)

    assert field in str(refused.value.detail)
    with pytest.raises(AirflowNotFoundError):
        bulk.get_dag_run(DAG, job)


def test_a_stock_whose_task_is_killed_with_sigkill_is_closed_as_failed(
    bulk, replay, airflow_stack, database_url
):
    """SIGKILL a stock's fetch on every attempt, then `finalize_batch` too.

    The stock's row stays `running` through the kills (no callback runs in a killed
    process); with `finalize_batch` killed as well, the run fails and the DAG-level
    callback is what closes the stock and the batch.
    """
    victim, *others = universe_symbols(replay, 3)[:3]
    replay.set_scenario({"delay": {victim: 60}})
    job = trigger(bulk, "sigkill", [victim, *others], KILL_WINDOW)
    service = BatchService(database_url)

    for attempt in range(1, FETCH_RETRIES + 2):
        # Kill once the attempt has begun in our code: a kill that lands while Airflow
        # is still starting the task would leave nothing of that attempt to record.
        began = attempt_recorded(service, job, victim, attempt)
        kill_running_attempt(
            bulk, airflow_stack, job, "fetch_prices", 0, attempt, began
        )
    with holding_batch_lock(database_url, service.get_batch_by_job_id(job).id):
        kill_running_attempt(bulk, airflow_stack, job, "finalize_batch", -1, 1)
    run = wait_for_run(bulk, DAG, job, timeout=120)

    def closed():
        batch, details = batch_record(database_url, job)
        return (batch, details) if batch.status != "running" else None

    batch, details = wait_for(closed, 60, "the DAG callback to close the batch")
    states = {t["task_id"]: t for t in bulk.list_task_instances(DAG, job)}
    assert run["state"] == "failed"
    assert states["finalize_batch"]["state"] == "failed"
    assert batch.status == "failed" and "before finalize_batch" in batch.error_message
    assert_record_is_true(batch, details, [victim, *others])
    assert details[victim].status == "failed"
    assert details[victim].attempts == FETCH_RETRIES + 1  # each began, none ended
    assert details[victim].error_message == batch.error_message
    assert details[victim].error_message != NO_RESULT
    assert {details[s].status for s in others} == {"success"}


def attempt_recorded(service, job: str, symbol: str, attempt: int):
    """Return a check: has `symbol`'s row recorded attempt `attempt` as running?"""

    def check() -> bool:
        batch = service.get_batch_by_job_id(job)
        if batch is None:
            return False
        [detail] = [
            d for d in service.get_batch_details(batch.id) if d.stock_code == symbol
        ]
        return (detail.status, detail.attempts) == ("running", attempt)

    return check


def kill_running_attempt(
    client, stack, job, task_id, map_index, try_number, began=lambda: True
) -> None:
    """Wait for try `try_number` of the task instance to run (and for `began()`);
    SIGKILL its process."""

    def running() -> psutil.Process | None:
        if not began():
            return None
        for ti in client.list_task_instances(DAG, job):
            if (ti["task_id"], ti["map_index"], ti["state"], ti["try_number"]) == (
                task_id,
                map_index,
                "running",
                try_number,
            ):
                return task_process(stack, ti["id"])
        return None

    what = f"try {try_number} of {task_id}[{map_index}] to run"
    proc = wait_for(running, 180, what, 0.2)
    proc.send_signal(signal.SIGKILL)
    wait_for(lambda: _dead(proc), 10, f"process {proc.pid} to die", 0.1)


def task_process(stack, ti_id: str) -> psutil.Process | None:
    """Return the process running task instance `ti_id`, or None.

    Two processes carry the id in their title: the executor worker that supervises
    the task ("LocalExecutor: <id>") and the task itself, which leads a process
    group of its own. Killing the worker would leave the task orphaned and running.
    """
    for proc in session_members(stack.component_sessions("scheduler")):
        try:
            title = " ".join(proc.cmdline())
            if ti_id in title and os.getpgid(proc.pid) == proc.pid:
                return proc
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
    return None


def _dead(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class holding_batch_lock:
    """Hold the batch row's lock, so every writer of the batch waits meanwhile."""

    def __init__(self, database_url: str, batch_id: int):
        self.conn = psycopg.connect(database_url)
        self.batch_id = batch_id

    def __enter__(self):
        self.conn.execute(
            "SELECT 1 FROM batch_executions WHERE id = %s FOR UPDATE", [self.batch_id]
        )
        return self

    def __exit__(self, *exc_info):
        self.conn.rollback()
        self.conn.close()
