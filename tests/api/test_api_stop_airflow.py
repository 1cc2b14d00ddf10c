"""Case A4: a job stopped through the API stays stopped (real Airflow, slow layer).

500 symbols run on the session's stack; the job is stopped 20 s in, as the case says,
then watched. The case watches for five minutes because that is how long Airflow
waits before it treats a silent running task as a zombie and acts on it
(`task_instance_heartbeat_timeout`, 300 s). Here the test first proves that nothing
is left for such a path to act on: every task instance of the run is in a final
state and every task process has exited. The scheduler schedules nothing else in a
failed run, so a one-minute watch (dozens of scheduler loops, and the DAG callback
that fires about 0.5 s after the run ends) then shows that no fetch starts and
nothing in the record, the prices or Airflow moves.
"""

from __future__ import annotations

import time

import pytest
from airflow_fixtures import universe_symbols, wait_for
from live_api import (
    ALIVE_TASK_STATES,
    UNFINISHED_DETAILS,
    run_state,
    start,
    status,
    stop,
    task_instances,
    task_processes,
)
from replayed import recorded_bars, sound_symbols, stored_rows

pytestmark = pytest.mark.airflow

# A window no other test stores, so every stored row here comes from this job.
WINDOW = {"interval": "1d", "start": "2021-03-01", "end": "2021-06-01"}
SYMBOLS = 500
STOP_AFTER_SECONDS = 20
WATCH_SECONDS = 60


def test_a4_a_stopped_job_stays_stopped_and_its_rows_stay_whole(
    make_live_app, live, live_batches, airflow_replay
):
    symbols = sound_symbols(
        airflow_replay, universe_symbols(airflow_replay, SYMBOLS), WINDOW, SYMBOLS
    )
    client = make_live_app().test_client()
    started = start(client, symbols, WINDOW)
    time.sleep(STOP_AFTER_SECONDS)

    answers = [stop(client, started["job_id"])]
    # Once the stop has answered, only the fetches already running may still ask the
    # replay server, each at most its four requests.
    in_flight = len(task_processes(live))
    at_stop = {"replay_requests": airflow_replay.state.stats()["requests"]}
    answers += [stop(client, started["job_id"]), stop(client, started["batch_db_id"])]

    assert [a["message"] for a in answers] == ["job stopped"] + [
        "job already cancelled"
    ] * 2
    assert {a["job"]["status"] for a in answers} == {"cancelled"}
    wait_for(lambda: not task_processes(live), 30, "task processes to exit")
    before = _snapshot(client, live, live_batches, airflow_replay, started, symbols)
    instances = task_instances(live, started["job_id"])
    assert not [ti for ti in instances if ti["state"] in ALIVE_TASK_STATES]
    # No fetch after the stop, told by the replay server: Airflow 3.3.2 gives the
    # instances it fails on a stop a start date of that moment, run or not.
    assert before["replay_requests"] <= at_stop["replay_requests"] + in_flight * 4

    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        assert status(client, started["job_id"])["status"] == "cancelled"
        assert run_state(live, started["job_id"]) == "failed"
        time.sleep(3)
    after = _snapshot(client, live, live_batches, airflow_replay, started, symbols)

    assert after == before
    _assert_cancelled_and_whole(before, symbols, airflow_replay)


def _snapshot(client, live, batches, replay, started, symbols) -> dict:
    """Everything that would move if the stopped job came back to life."""
    details = batches.get_batch_details(started["batch_db_id"])
    return {
        "job": status(client, started["batch_db_id"]),
        "batch": batches.get_batch(started["batch_db_id"]).status,
        "details": {d.stock_code: (d.status, d.updated_at) for d in details},
        "instances": {
            (ti["task_id"], ti["map_index"]): (ti["state"], ti["start_date"])
            for ti in task_instances(live, started["job_id"])
        },
        "replay_requests": replay.state.stats()["requests"],
        "rows": stored_rows(live.config.app_database_url, symbols, WINDOW),
    }


def _assert_cancelled_and_whole(snapshot, symbols, replay) -> None:
    details = {s: state for s, (state, _) in snapshot["details"].items()}
    assert sorted(details) == sorted(symbols)
    assert snapshot["batch"] == "cancelled"
    assert not set(details.values()) & UNFINISHED_DETAILS
    assert "cancelled" in details.values() and "success" in details.values()
    job = snapshot["job"]
    assert job["summary"]["successful"] == list(details.values()).count("success")
    for symbol, rows in snapshot["rows"].items():
        expected = recorded_bars(replay, symbol, WINDOW)
        if details[symbol] == "success":
            assert rows == expected, symbol
        else:
            # One transaction per store: a stock cut short has all its rows or none.
            assert rows in (0, expected), symbol
