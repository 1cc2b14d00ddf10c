"""The final-job cache keeps ended jobs for a few seconds and running ones never."""

from __future__ import annotations

from api_helpers import auth

from api.final_jobs import FinalJobCache
from api.progress import JobFacts


def facts(status: str, processed: int = 1) -> JobFacts:
    return JobFacts(
        job_id="job-1",
        batch_db_id=1,
        status=status,
        total=2,
        processed=processed,
        successful=processed,
        failed=0,
        started_at=None,
        ended_at=None,
        created_at=None,
        updated_at=None,
    )


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_ended_job_is_kept_until_its_time_is_up():
    clock = Clock()
    cache = FinalJobCache(ttl=2.0, clock=clock)

    cache.put("a", facts("completed"))
    clock.now += 1.9
    kept = cache.get("a")
    clock.now += 0.2
    expired = cache.get("a")

    assert kept == facts("completed")
    assert expired is None


def test_running_jobs_are_never_kept():
    cache = FinalJobCache(ttl=60.0)

    cache.put("a", facts("running"))

    assert cache.get("a") is None


def test_a_zero_ttl_turns_the_cache_off():
    cache = FinalJobCache(ttl=0)

    cache.put("a", facts("failed"))

    assert cache.get("a") is None


def test_the_oldest_entry_makes_room():
    cache = FinalJobCache(ttl=60.0, max_entries=2)

    for ref in ("a", "b", "c"):
        cache.put(ref, facts("cancelled"))

    assert cache.get("a") is None
    assert cache.get("b") is not None and cache.get("c") is not None


def test_the_status_of_an_ended_batch_is_served_from_memory_briefly(make_app, batches):
    batch_id = batches.create_batch("bulk_fetch", symbols=["7203.T"], job_id="job-5")
    batches.update_batch_detail(batch_id, "7203.T", "success", attempt=1)
    batches.complete_batch(batch_id)
    cached = make_app(STATUS_CACHE_SECONDS=60).test_client()
    fresh = make_app(STATUS_CACHE_SECONDS=0).test_client()
    path = f"/api/bulk/status/{batch_id}"
    cached.get(path, headers=auth())
    fresh.get(path, headers=auth())

    # A late callback settles the stock differently after the batch closed.
    batches.update_batch_detail(batch_id, "7203.T", "failed", attempt=2)

    assert cached.get(path, headers=auth()).get_json()["job"]["progress"]["failed"] == 0
    assert fresh.get(path, headers=auth()).get_json()["job"]["progress"]["failed"] == 1
