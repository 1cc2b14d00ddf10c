"""Status and stop from the batch record, agreeing with Airflow (fast layer).

Airflow here is a stand-in that fails or says a run does not exist: the paths where
the record must not be believed. Runs that exist are tested in test_api_airflow.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import auth

from api.progress import FINAL_STATUSES, JobFacts, job_view

JOB_KEYS = {
    "id",
    "batch_db_id",
    "status",
    "progress",
    "created_at",
    "updated_at",
    "summary",
}
PROGRESS_KEYS = {
    "total",
    "processed",
    "successful",
    "failed",
    "progress_percentage",
    "elapsed_time",
    "stocks_per_second",
    "estimated_completion",
}


def make_batch(batches, job_id, results):
    """Create a bulk batch for `results` ({symbol: final status or None})."""
    batch_id = batches.create_batch(
        "bulk_fetch", symbols=list(results), job_id=job_id, dag_id="bulk_fetch"
    )
    for symbol, status in results.items():
        if status is not None:
            batches.update_batch_detail(batch_id, symbol, status, attempt=1)
    return batch_id


@pytest.fixture
def completed_batch(batches):
    batch_id = make_batch(
        batches,
        "job-1700000000000",
        {"7203.T": "success", "6758.T": "success", "9984.T": "failed"},
    )
    batches.complete_batch(batch_id)
    return batch_id


@pytest.mark.parametrize("by", ["batch_db_id", "job_id"])
def test_a_final_batch_is_answered_from_the_record_alone(
    client, completed_batch, fake_airflow, by
):
    ref = completed_batch if by == "batch_db_id" else "job-1700000000000"

    response = client.get(f"/api/bulk/status/{ref}", headers=auth())

    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    job = body["job"]
    assert set(job) == JOB_KEYS and set(job["progress"]) == PROGRESS_KEYS
    assert job["id"] == "job-1700000000000"
    assert job["batch_db_id"] == completed_batch
    assert job["status"] == "completed"
    progress = job["progress"]
    assert (progress["total"], progress["processed"]) == (3, 3)
    assert (progress["successful"], progress["failed"]) == (2, 1)
    assert progress["progress_percentage"] == 100.0
    summary = job["summary"]
    assert summary["total_symbols"] == 3
    assert (summary["successful"], summary["failed"]) == (2, 1)
    assert summary["duration_seconds"] >= 0
    datetime.fromisoformat(job["created_at"])
    assert fake_airflow.calls == []


def test_a_running_batch_whose_run_is_gone_is_closed_not_reported_running(
    client, batches, fake_airflow
):
    fake_airflow.status = 404
    batch_id = make_batch(
        batches, "job-1700000000001", {"7203.T": "success", "6758.T": None}
    )

    response = client.get(f"/api/bulk/status/{batch_id}", headers=auth())

    assert response.status_code == 200
    job = response.get_json()["job"]
    assert job["status"] == "failed"
    assert job["summary"] == {
        "total_symbols": 2,
        "successful": 1,
        "failed": 1,
        "duration_seconds": job["summary"]["duration_seconds"],
    }
    stored = batches.get_batch(batch_id)
    assert stored.status == "failed" and "no longer exists" in stored.error_message
    open_detail = [
        d for d in batches.get_batch_details(batch_id) if d.stock_code == "6758.T"
    ][0]
    assert open_detail.status == "failed"
    assert fake_airflow.calls == [
        ("GET", "/api/v2/dags/bulk_fetch/dagRuns/job-1700000000001")
    ]


def test_a_running_batch_while_airflow_fails_is_a_503_and_stays_as_it_was(
    client, batches, fake_airflow
):
    batch_id = make_batch(batches, "job-1700000000002", {"7203.T": None})

    response = client.get(f"/api/bulk/status/{batch_id}", headers=auth())

    assert response.status_code == 503
    assert response.get_json()["error"] == "SERVICE_UNAVAILABLE"
    assert batches.get_batch(batch_id).status == "running"


def test_stopping_a_finished_job_is_safe_and_says_so(
    client, batches, completed_batch, fake_airflow
):
    before = batches.get_batch(completed_batch)

    first = client.post(f"/api/bulk/stop/{completed_batch}", headers=auth())
    again = client.post("/api/bulk/stop/job-1700000000000", headers=auth())

    for response in (first, again):
        assert response.status_code == 200
        body = response.get_json()
        assert body["success"] is True
        assert body["message"] == "job already completed"
        assert body["job"]["status"] == "completed"
    assert batches.get_batch(completed_batch) == before
    assert fake_airflow.calls == []


def test_stopping_while_airflow_fails_is_a_503_and_cancels_nothing(
    client, batches, fake_airflow
):
    batch_id = make_batch(batches, "job-1700000000003", {"7203.T": None})

    response = client.post(f"/api/bulk/stop/{batch_id}", headers=auth())

    assert response.status_code == 503
    assert batches.get_batch(batch_id).status == "running"
    assert {d.status for d in batches.get_batch_details(batch_id)} == {"pending"}


def test_stopping_a_job_whose_run_is_gone_closes_its_batch(
    client, batches, fake_airflow
):
    fake_airflow.status = 404
    batch_id = make_batch(batches, "job-1700000000004", {"7203.T": None})

    response = client.post(f"/api/bulk/stop/{batch_id}", headers=auth())

    assert response.status_code == 200
    assert response.get_json()["message"] == "job already failed"
    assert batches.get_batch(batch_id).status == "failed"


def test_stop_and_status_of_unknown_ids_are_404(client, fake_airflow):
    fake_airflow.status = 404

    for path in ("/api/bulk/stop/12345", "/api/bulk/stop/job-1"):
        response = client.post(path, headers=auth())
        assert response.status_code == 404
        assert response.get_json()["error"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "ref", ["%00", "job-%00x", "job-1%3BDROP", "job-1%20", "job-%E2%9C%93"]
)
def test_ids_no_airflow_run_can_have_are_404_without_asking_anyone(
    client, fake_airflow, ref
):
    # PostgreSQL refuses a NUL byte in text: this was a 500 before the id was checked.
    for method, path in (("GET", "status"), ("POST", "stop")):
        response = client.open(f"/api/bulk/{path}/{ref}", method=method, headers=auth())
        assert response.status_code == 404, response.get_data(as_text=True)
        assert response.get_json() == {
            "success": False,
            "error": "NOT_FOUND",
            "message": "no job or batch with this id",
        }
    assert fake_airflow.calls == []


def test_without_phase2_batch_ids_do_not_exist(make_app, completed_batch, fake_airflow):
    client = make_app(ENABLE_PHASE2=False).test_client()
    fake_airflow.status = 404

    by_number = client.get(f"/api/bulk/status/{completed_batch}", headers=auth())
    by_job = client.get("/api/bulk/status/job-1700000000000", headers=auth())

    assert by_number.status_code == 404
    assert by_job.status_code == 404  # Airflow alone answers, and it has no such run
    assert fake_airflow.calls == [
        ("GET", "/api/v2/dags/bulk_fetch/dagRuns/job-1700000000000")
    ]


NOW = datetime(2026, 1, 5, 9, 0, 10, tzinfo=UTC)


def job_facts(status: str, seconds: float, **counts: int) -> JobFacts:
    """A job of batch 7 that began `seconds` before NOW; ended at NOW if final."""
    began = NOW - timedelta(seconds=seconds)
    return JobFacts(
        job_id="job-1",
        batch_db_id=7,
        status=status,
        started_at=began,
        ended_at=NOW if status in FINAL_STATUSES else None,
        created_at=began,
        updated_at=NOW,
        **counts,
    )


def test_a_running_job_estimates_its_completion_from_its_rate():
    facts = job_facts("running", 10, total=100, processed=25, successful=20, failed=5)

    job = job_view(facts, NOW)

    assert job["summary"] is None
    assert job["progress"]["progress_percentage"] == 25.0
    assert job["progress"]["elapsed_time"] == 10.0
    assert job["progress"]["stocks_per_second"] == 2.5
    expected = NOW + timedelta(seconds=30)
    assert job["progress"]["estimated_completion"] == expected.isoformat()


def test_a_stopped_job_counts_only_the_stocks_it_fetched_in_its_rate():
    # 184 of the 200 processed were cancelled by the stop, never fetched.
    facts = job_facts("cancelled", 8, total=200, processed=200, successful=16, failed=0)

    progress = job_view(facts, NOW)["progress"]

    assert progress["stocks_per_second"] == 2.0
    assert progress["progress_percentage"] == 100.0
