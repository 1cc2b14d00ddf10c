"""Status from Airflow alone (ENABLE_PHASE2=false): runs and task instances to a job.

The inputs are shaped like Airflow 3.3's REST answers (DAGRunResponse and
TaskInstanceResponse); the real layer checks the same reduction against live runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from api.airflow_jobs import STOP_NOTE, run_facts
from api.progress import job_view

SYMBOLS = ["7203.T", "6758.T", "9984.T", "8306.T", "AAPL"]


def run(state, symbols_per_task=1, end_date=None):
    return {
        "dag_run_id": "job-1767600000000",
        "dag_id": "bulk_fetch",
        "queued_at": "2026-01-05T08:00:00.000000Z",
        "start_date": "2026-01-05T08:00:01.000000Z",
        "end_date": end_date,
        "run_after": "2026-01-05T08:00:00.000000Z",
        "state": state,
        "conf": {
            "symbols": SYMBOLS,
            "interval": "1d",
            "period": "1y",
            "start": None,
            "end": None,
            "batch_id": None,
            "symbols_per_task": symbols_per_task,
        },
    }


def ti(map_index, state, task_id="fetch_prices", end="2026-01-05T08:00:05Z"):
    return {
        "task_id": task_id,
        "map_index": map_index,
        "state": state,
        "start_date": "2026-01-05T08:00:02Z",
        "end_date": end if state in ("success", "failed", "skipped") else None,
        # Filled only when the instance finishes: running ones carry None.
        "rendered_map_index": SYMBOLS[map_index] if state == "success" else None,
    }


def test_running_mapped_instances_count_through_the_conf_and_map_index():
    instances = [
        ti(0, "success"),
        ti(1, "failed"),
        ti(2, "running"),
        ti(3, "queued"),
        ti(4, None),
        {**ti(-1, "success"), "task_id": "finalize_batch"},
    ]

    facts = run_facts(run("running"), instances)

    assert facts.status == "running"
    assert (facts.total, facts.processed) == (5, 2)
    assert (facts.successful, facts.failed) == (1, 1)
    assert facts.batch_db_id is None
    assert facts.job_id == "job-1767600000000"


def test_groups_of_several_symbols_count_every_symbol():
    instances = [ti(0, "success"), ti(1, "running"), ti(2, "success")]

    facts = run_facts(run("running", symbols_per_task=2), instances)

    # Groups: [7203.T, 6758.T] [9984.T, 8306.T] [AAPL]
    assert (facts.total, facts.processed, facts.successful) == (5, 3, 3)


def test_a_successful_run_is_completed_with_a_summary():
    instances = [ti(i, "success") for i in range(5)]
    end = "2026-01-05T08:00:11.000000Z"

    job = job_view(
        run_facts(run("success", end_date=end), instances), datetime.now(UTC)
    )

    assert job["status"] == "completed"
    assert job["summary"] == {
        "total_symbols": 5,
        "successful": 5,
        "failed": 0,
        "duration_seconds": 10.0,
    }
    assert job["progress"]["progress_percentage"] == 100.0
    assert job["progress"]["estimated_completion"] == "2026-01-05T08:00:11+00:00"


def test_a_stopped_run_is_cancelled_and_every_symbol_settled():
    instances = [
        ti(0, "success"),
        ti(1, "failed"),
        ti(2, "skipped"),
        ti(3, "skipped"),
        ti(4, None),
    ]

    facts = run_facts(run("failed", end_date="2026-01-05T08:00:06Z"), instances)

    assert facts.status == "cancelled"
    assert (facts.processed, facts.successful, facts.failed) == (5, 1, 1)


def test_a_run_that_failed_on_its_own_is_failed():
    instances = [ti(i, "success") for i in range(4)] + [ti(4, "failed")]

    facts = run_facts(run("failed", end_date="2026-01-05T08:00:06Z"), instances)

    assert facts.status == "failed"
    assert (facts.successful, facts.failed) == (4, 1)


def test_a_run_stopped_while_its_tasks_waited_is_cancelled():
    instances = [ti(0, "success"), ti(1, "failed"), ti(2, None), ti(3, "scheduled")]

    facts = run_facts(run("failed", end_date="2026-01-05T08:00:06Z"), instances)

    assert facts.status == "cancelled"


def test_a_run_whose_request_failed_before_the_fetches_is_failed():
    facts = run_facts(run("failed"), [ti(-1, "upstream_failed")])

    assert facts.status == "failed"
    assert (facts.processed, facts.failed) == (5, 5)


def test_a_queued_run_before_expansion_is_running_with_nothing_done():
    facts = run_facts(run("queued"), [ti(-1, None)])

    assert facts.status == "running"
    assert (facts.total, facts.processed) == (5, 0)


def test_a_run_stopped_through_the_api_is_cancelled_though_every_fetch_failed():
    # What Airflow 3.3.2 leaves after the stop: every mapped instance failed.
    instances = [ti(i, "failed") for i in range(len(SYMBOLS))]
    stopped = {**run("failed", end_date="2026-01-05T08:00:09Z")}

    assert run_facts(stopped, instances).status == "failed"
    assert run_facts({**stopped, "note": STOP_NOTE}, instances).status == "cancelled"
