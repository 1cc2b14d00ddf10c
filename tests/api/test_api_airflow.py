"""The API against the real Airflow: start, poll, stop, collide (slow layer).

Airflow (api-server, scheduler, dag-processor) runs once per session through helper
E's fixture, its tasks fetching from the Yahoo-compatible replay server over the
project's sample data. Each test works on its own batches and runs and stops what it
started, so tests do not wait on each other's tasks.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from api_helpers import auth
from live_api import (
    alive_tasks,
    poll_until_final,
    start,
    status,
)
from replayed import recorded_bars, sound_symbols, stored_rows

from api.job_ids import JobIdClock

pytestmark = pytest.mark.airflow

WINDOW = {"interval": "1d", "start": "2022-06-01", "end": "2022-09-01"}
UNFINISHED_DETAILS = {"pending", "running", "retrying"}


def test_100_symbols_run_to_completed_with_monotonic_progress(
    make_live_app, live, live_batches, sample_symbols, airflow_replay
):
    client = make_live_app().test_client()
    symbols = sound_symbols(airflow_replay, sample_symbols, WINDOW, 100)

    started = start(client, symbols, WINDOW)
    seen = poll_until_final(client, started["batch_db_id"], timeout=600)

    assert started["success"] is True and started["status"] == "accepted"
    assert started["job_id"].startswith("job-")
    processed = [answer["progress"]["processed"] for answer in seen]
    assert processed == sorted(processed)
    assert all(answer["summary"] is None for answer in seen[:-1])
    job = seen[-1]
    assert job["status"] == "completed"
    assert job["id"] == started["job_id"]
    details = live_batches.get_batch_details(started["batch_db_id"])
    stored = {d.stock_code: d.status for d in details}
    assert set(stored) == set(symbols)
    assert job["summary"]["total_symbols"] == 100
    assert job["summary"]["successful"] == list(stored.values()).count("success")
    assert job["summary"]["failed"] == list(stored.values()).count("failed")
    assert job["summary"]["successful"] == 100
    assert job["progress"]["progress_percentage"] == 100.0
    assert status(client, started["job_id"]) == status(client, started["batch_db_id"])
    stored = stored_rows(live.config.app_database_url, symbols, WINDOW)
    assert stored == {s: recorded_bars(airflow_replay, s, WINDOW) for s in symbols}


def test_stopping_500_symbols_cancels_every_open_stock_and_every_task(
    make_live_app, live, live_batches, sample_symbols
):
    client = make_live_app().test_client()
    # Codes 1100-1299 are below every sample code: unknown to the replay, they fail
    # fast without retry.
    unknown = [f"{1100 + i}.T" for i in range(200)]
    assert not set(unknown) & set(sample_symbols)
    started = start(client, sample_symbols[:300] + unknown, WINDOW)
    time.sleep(5)

    stopped = client.post(f"/api/bulk/stop/{started['job_id']}", headers=auth())
    stopped_at = time.monotonic()

    assert stopped.status_code == 200
    body = stopped.get_json()
    assert body["success"] is True and body["message"] == "job stopped"
    assert body["job"]["status"] == "cancelled"
    while alive_tasks(live, started["job_id"]):
        assert time.monotonic() - stopped_at < 30, "tasks still alive 30 s after stop"
        time.sleep(1)
    batch = live_batches.get_batch(started["batch_db_id"])
    assert batch.status == "cancelled"
    details = live_batches.get_batch_details(started["batch_db_id"])
    assert len(details) == 500
    assert not [d for d in details if d.status in UNFINISHED_DETAILS]
    assert "cancelled" in {d.status for d in details}
    again = client.post(f"/api/bulk/stop/{started['batch_db_id']}", headers=auth())
    assert again.status_code == 200
    assert again.get_json()["message"] == "job already cancelled"
    time.sleep(3)  # a run that came back to life would show here
    assert status(client, started["job_id"])["status"] == "cancelled"


def test_five_identical_starts_in_the_same_millisecond_are_five_jobs(
    make_live_app, live
):
    # Five apps stand for five gunicorn workers whose clocks read the same instant.
    now_ms = int(time.time() * 1000)
    apps = [make_live_app() for _ in range(5)]
    for app in apps:
        app.extensions["kabuflow"].job_ids = JobIdClock(clock=lambda: now_ms / 1000)
    body = {"symbols": ["7203.T", "6758.T"], **WINDOW}

    def start_one(app):
        return app.test_client().post("/api/bulk/start", json=body, headers=auth())

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(start_one, apps))

    try:
        assert [a.status_code for a in answers] == [202] * 5
        jobs = [a.get_json() for a in answers]
        assert {job["job_id"] for job in jobs} == {
            f"job-{now_ms + i}" for i in range(5)
        }
        assert len({job["batch_db_id"] for job in jobs}) == 5
        with live.client() as airflow:
            for job in jobs:
                run = airflow.get_dag_run("bulk_fetch", job["job_id"])
                assert run["conf"]["batch_id"] == job["batch_db_id"]
    finally:
        client = apps[0].test_client()
        for answer in answers:
            if answer.status_code == 202:
                job_id = answer.get_json()["job_id"]
                client.post(f"/api/bulk/stop/{job_id}", headers=auth())


def test_without_phase2_jobs_run_and_stop_on_airflow_alone(
    make_live_app, live, sample_symbols
):
    client = make_live_app(ENABLE_PHASE2=False).test_client()

    started = start(client, sample_symbols[100:120], WINDOW, symbols_per_task=4)
    seen = poll_until_final(client, started["job_id"], timeout=600)

    assert set(started) == {"success", "job_id", "status"}
    job = seen[-1]
    assert job["status"] == "completed" and job["batch_db_id"] is None
    assert job["summary"]["total_symbols"] == 20
    assert job["summary"]["successful"] == 20
    processed = [answer["progress"]["processed"] for answer in seen]
    assert processed == sorted(processed)
    assert client.get("/api/bulk/status/1", headers=auth()).status_code == 404

    second = start(client, sample_symbols[120:200], WINDOW)
    time.sleep(2)
    stopped = client.post(f"/api/bulk/stop/{second['job_id']}", headers=auth())

    assert stopped.status_code == 200
    assert stopped.get_json()["message"] == "job stopped"
    assert stopped.get_json()["job"]["status"] == "cancelled"
    assert status(client, second["job_id"])["status"] == "cancelled"


def test_without_phase2_a_run_id_taken_in_airflow_gets_the_next_millisecond(
    make_live_app, live, sample_symbols
):
    app = make_live_app(ENABLE_PHASE2=False)
    taken_ms = int(time.time() * 1000) - 10_000
    conf = {
        "symbols": ["7203.T"],
        **WINDOW,
        "period": None,
        "batch_id": None,
        "symbols_per_task": 1,
    }
    with live.client() as airflow:
        airflow.trigger_dag_run("bulk_fetch", f"job-{taken_ms}", conf)
    app.extensions["kabuflow"].job_ids = JobIdClock(clock=lambda: taken_ms / 1000)
    client = app.test_client()

    started = start(client, ["6758.T"], WINDOW)

    assert started["job_id"] == f"job-{taken_ms + 1}"
    with live.client() as airflow:
        run = airflow.get_dag_run("bulk_fetch", started["job_id"])
    assert run["conf"]["symbols"] == ["6758.T"]
    for job_id in (f"job-{taken_ms}", started["job_id"]):
        assert (
            client.post(f"/api/bulk/stop/{job_id}", headers=auth()).status_code == 200
        )
