"""Start when Airflow fails: 503 (or 400), and never a `running` batch without a run."""

from __future__ import annotations

import socket

import pytest
from api_helpers import VALID_BODY, auth, batch_count


def closed_port_url() -> str:
    """Return a URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def only_batch(batches):
    page, total = batches.list_batches()
    assert total == 1
    return page[0]


@pytest.mark.parametrize("status", [500, 503])
def test_airflow_failing_the_trigger_fails_the_batch_and_answers_503(
    client, batches, fake_airflow, status
):
    fake_airflow.status = status
    body = {**VALID_BODY, "batch_id": 424242}  # a client cannot choose the batch

    response = client.post("/api/bulk/start", json=body, headers=auth())

    assert response.status_code == 503
    assert response.get_json()["error"] == "SERVICE_UNAVAILABLE"
    batch = only_batch(batches)
    assert batch.status == "failed"
    assert "Airflow could not create the run" in batch.error_message
    details = batches.get_batch_details(batch.id)
    assert {d.stock_code for d in details} == {"7203.T", "6758.T"}
    assert {d.status for d in details} == {"failed"}
    method, path = fake_airflow.calls[0]
    assert (method, path) == ("POST", "/api/v2/dags/bulk_fetch/dagRuns")
    trigger = fake_airflow.bodies[fake_airflow.requests.index(fake_airflow.calls[0])]
    assert trigger["dag_run_id"] == batch.job_id
    assert trigger["conf"]["batch_id"] == batch.id
    assert trigger["conf"]["symbols"] == ["7203.T", "6758.T"]


def test_airflow_unreachable_fails_the_batch_and_answers_503(make_app, batches):
    client = make_app(AIRFLOW_API_URL=closed_port_url()).test_client()

    response = client.post("/api/bulk/start", json=VALID_BODY, headers=auth())

    assert response.status_code == 503
    batch = only_batch(batches)
    assert batch.status == "failed"
    assert "unreachable" in batch.error_message


def test_airflow_refusing_the_conf_is_a_400_and_fails_the_batch(
    client, batches, fake_airflow
):
    fake_airflow.status = 400
    fake_airflow.detail = "conf does not match the DAG's params"

    response = client.post("/api/bulk/start", json=VALID_BODY, headers=auth())

    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "VALIDATION_ERROR"
    assert "conf does not match" in answer["message"]
    batch = only_batch(batches)
    assert batch.status == "failed"
    assert "conf does not match" in batch.error_message


def test_without_phase2_a_failed_trigger_writes_no_batch(make_app, conn, fake_airflow):
    client = make_app(ENABLE_PHASE2=False).test_client()

    response = client.post("/api/bulk/start", json=VALID_BODY, headers=auth())

    assert response.status_code == 503
    assert batch_count(conn) == 0
    trigger = fake_airflow.bodies[fake_airflow.requests.index(fake_airflow.calls[0])]
    assert trigger["conf"]["batch_id"] is None


def test_a_job_id_held_by_another_batch_is_never_touched_the_next_ms_is_used(
    app, batches, fake_airflow
):
    from api.job_ids import JobIdClock

    taken = batches.create_batch(
        "bulk_fetch", symbols=["9984.T"], job_id="job-1767600000000"
    )
    # Another process handed out this very millisecond a moment ago.
    app.extensions["kabuflow"].job_ids = JobIdClock(clock=lambda: 1767600000.0)

    response = app.test_client().post(
        "/api/bulk/start", json=VALID_BODY, headers=auth()
    )

    assert response.status_code == 503  # the fake Airflow fails the trigger
    other = batches.get_batch(taken)
    assert other.status == "running" and other.error_message is None
    assert [d.status for d in batches.get_batch_details(taken)] == ["pending"]
    mine = batches.get_batch_by_job_id("job-1767600000001")
    assert mine is not None and mine.status == "failed"
    trigger = fake_airflow.bodies[fake_airflow.requests.index(fake_airflow.calls[0])]
    assert trigger["dag_run_id"] == "job-1767600000001"
