"""BatchService against the real database: every method, ordering rules, concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from kabuflow.batches import BatchService
from kabuflow.errors import BatchDetailNotFound, BatchNotFound, KabuflowError

SYMBOLS = ["7203.T", "6758.T", "9984.T"]
MISSING = 999_999


@pytest.fixture
def service(db) -> BatchService:
    return BatchService(db)


@pytest.fixture
def batch_id(service) -> int:
    return service.create_batch("bulk", symbols=SYMBOLS, job_id="job-1")


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run `work(i)` in `count` threads released together; re-raise the first error."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as exc:  # handed to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]


def stored_counts(conn, batch_id: int) -> tuple[int, int, int]:
    """Processed, successful and failed counted straight from the detail rows."""
    return conn.execute(
        """SELECT count(*) FILTER (WHERE status IN ('success', 'failed', 'cancelled')),
                  count(*) FILTER (WHERE status = 'success'),
                  count(*) FILTER (WHERE status = 'failed')
           FROM batch_execution_details WHERE batch_execution_id = %s""",
        (batch_id,),
    ).fetchone()


def counters(batch) -> tuple[int, int, int]:
    return batch.processed_stocks, batch.successful_stocks, batch.failed_stocks


# create_batch / get_batch


def test_create_batch_with_symbols_writes_pending_details(service, conn):
    batch_id = service.create_batch(
        "bulk",
        symbols=[*SYMBOLS, "7203.T"],
        job_id="job-1",
        dag_id="bulk_fetch",
        parameters={"interval": "1d", "period": "1y"},
    )

    batch = service.get_batch(batch_id)
    assert batch.status == "running"
    assert batch.total_stocks == 3
    assert counters(batch) == (0, 0, 0)
    assert (batch.job_id, batch.dag_id) == ("job-1", "bulk_fetch")
    assert batch.parameters == {"interval": "1d", "period": "1y"}
    assert batch.end_time is None and batch.start_time.tzinfo is not None
    details = service.get_batch_details(batch_id)
    assert [d.stock_code for d in details] == SYMBOLS
    assert {(d.status, d.attempts, d.start_time) for d in details} == {
        ("pending", 0, None)
    }


def test_create_batch_without_symbols(service):
    counted = service.create_batch("daily", 120)
    empty = service.create_batch("daily")

    assert service.get_batch(counted).total_stocks == 120
    assert service.get_batch(empty).total_stocks == 0
    assert service.get_batch_details(counted) == []
    assert service.get_batch(empty).parameters == {}


def test_create_batch_with_an_empty_symbol_list(service):
    batch_id = service.create_batch("bulk", symbols=[])

    assert service.get_batch(batch_id).total_stocks == 0
    assert service.get_batch_details(batch_id) == []


def test_create_batch_is_idempotent_per_job_id(service, conn):
    first = service.create_batch("bulk", symbols=SYMBOLS, job_id="job-7")
    again = service.create_batch("bulk", symbols=["1301.T"], job_id="job-7")

    assert again == first
    assert conn.execute("SELECT count(*) FROM batch_executions").fetchone() == (1,)
    assert [d.stock_code for d in service.get_batch_details(first)] == SYMBOLS
    assert service.get_batch_by_job_id("job-7").id == first


def test_concurrent_creates_with_one_job_id_make_one_batch(service, conn):
    ids: list[int] = []

    run_threads(8, lambda _: ids.append(service.create_batch("bulk", job_id="job-9")))

    assert len(set(ids)) == 1 and len(ids) == 8
    assert conn.execute("SELECT count(*) FROM batch_executions").fetchone() == (1,)


def test_create_batch_rejects_bad_arguments(service):
    with pytest.raises(ValueError, match="batch_type"):
        service.create_batch("")
    with pytest.raises(ValueError, match="batch_type"):
        service.create_batch("x" * 51)
    with pytest.raises(ValueError, match="total_stocks"):
        service.create_batch("bulk", -1)


def test_get_unknown_batch(service):
    assert service.get_batch(MISSING) is None
    assert service.get_batch_by_job_id("job-none") is None


def test_batch_not_found_is_a_kabuflow_error(service):
    with pytest.raises(KabuflowError) as caught:
        service.complete_batch(MISSING)
    assert isinstance(caught.value, BatchNotFound)
    assert caught.value.batch_id == MISSING


# update_batch_progress


def test_update_batch_progress_adds(service):
    batch_id = service.create_batch("daily", 10)

    service.update_batch_progress(batch_id, processed=3, successful=2, failed=1)
    batch = service.update_batch_progress(batch_id, processed=1, successful=1)

    assert counters(batch) == (4, 3, 1)
    assert counters(service.get_batch(batch_id)) == (4, 3, 1)


def test_update_batch_progress_rejects_unknown_batch_and_negatives(service):
    batch_id = service.create_batch("daily", 10)

    with pytest.raises(BatchNotFound):
        service.update_batch_progress(MISSING, processed=1)
    with pytest.raises(ValueError):
        service.update_batch_progress(batch_id, processed=-1)
    assert counters(service.get_batch(batch_id)) == (0, 0, 0)


def test_update_batch_progress_from_8_threads_is_exact(service):
    batch_id = service.create_batch("daily", 2000)

    def work(index: int) -> None:
        for step in range(250):
            ok = (index + step) % 4 != 0
            service.update_batch_progress(
                batch_id, processed=1, successful=int(ok), failed=int(not ok)
            )

    run_threads(8, work)

    assert counters(service.get_batch(batch_id)) == (2000, 1500, 500)


# update_batch_detail


def test_detail_lifecycle_sets_times_attempts_and_counters(service, batch_id):
    running = service.update_batch_detail(batch_id, "7203.T", "running", attempt=1)
    assert running.start_time is not None and running.end_time is None
    assert running.attempts == 1

    done = service.update_batch_detail(
        batch_id,
        "7203.T",
        "success",
        records_inserted=245,
        records_updated=3,
        attempt=1,
    )
    assert done.status == "success" and done.end_time >= done.start_time
    assert done.start_time == running.start_time
    assert (done.records_inserted, done.records_updated) == (245, 3)

    service.update_batch_detail(
        batch_id, "6758.T", "failed", error_message="unknown symbol", attempt=1
    )
    batch = service.get_batch(batch_id)
    assert counters(batch) == (2, 1, 1)
    assert service.get_batch_details(batch_id, status="failed")[0].error_message == (
        "unknown symbol"
    )


def test_retry_then_success_counts_once(service, batch_id, conn):
    service.update_batch_detail(batch_id, "7203.T", "running", attempt=1)
    retrying = service.update_batch_detail(
        batch_id, "7203.T", "retrying", error_message="HTTP 429", attempt=1
    )
    assert retrying.end_time is None and retrying.error_message == "HTTP 429"
    assert counters(service.get_batch(batch_id)) == (0, 0, 0)

    service.update_batch_detail(batch_id, "7203.T", "running", attempt=2)
    final = service.update_batch_detail(batch_id, "7203.T", "success", attempt=2)

    assert final.attempts == 2 and final.error_message is None
    assert (
        counters(service.get_batch(batch_id))
        == (1, 1, 0)
        == stored_counts(conn, batch_id)
    )


def test_a_write_for_an_older_attempt_is_ignored(service, batch_id):
    service.update_batch_detail(batch_id, "7203.T", "success", attempt=2)

    for status in ("running", "retrying", "failed"):
        stored = service.update_batch_detail(
            batch_id, "7203.T", status, error_message="late", attempt=1
        )
        assert (stored.status, stored.attempts, stored.error_message) == (
            "success",
            2,
            None,
        )
    assert counters(service.get_batch(batch_id)) == (1, 1, 0)


def test_within_one_attempt_the_state_never_steps_back(service, batch_id):
    service.update_batch_detail(batch_id, "7203.T", "retrying", attempt=1)
    assert (
        service.update_batch_detail(batch_id, "7203.T", "running", attempt=1).status
        == "retrying"
    )

    service.update_batch_detail(batch_id, "6758.T", "failed", attempt=1)
    for status in ("pending", "running", "retrying"):
        stored = service.update_batch_detail(batch_id, "6758.T", status, attempt=1)
        assert stored.status == "failed"
    assert counters(service.get_batch(batch_id)) == (1, 0, 1)


def test_a_final_row_runs_again_only_with_a_higher_attempt(service, batch_id):
    first = service.update_batch_detail(
        batch_id, "7203.T", "failed", error_message="timeout", attempt=3
    )
    assert counters(service.get_batch(batch_id)) == (1, 0, 1)

    rerun = service.update_batch_detail(batch_id, "7203.T", "running", attempt=4)

    assert (rerun.status, rerun.attempts) == ("running", 4)
    assert rerun.end_time is None and rerun.error_message is None
    assert rerun.start_time >= first.end_time
    assert counters(service.get_batch(batch_id)) == (0, 0, 0)
    service.update_batch_detail(batch_id, "7203.T", "success", attempt=4)
    assert counters(service.get_batch(batch_id)) == (1, 1, 0)


def test_cancelled_is_never_overwritten_by_an_unfinished_state(service, batch_id):
    service.cancel_batch(batch_id)

    # "failed" too: it is what Airflow reports for a task the stop itself killed.
    for status in ("pending", "running", "retrying", "failed"):
        stored = service.update_batch_detail(batch_id, "7203.T", status, attempt=9)
        assert stored.status == "cancelled"
        assert stored.attempts == 0
    assert counters(service.get_batch(batch_id)) == (3, 0, 0)


def test_a_success_after_a_stop_is_recorded_because_its_rows_were_stored(
    service, batch_id
):
    service.cancel_batch(batch_id)

    stored = service.update_batch_detail(
        batch_id, "7203.T", "success", records_inserted=5, attempt=1
    )

    assert stored.status == "success" and stored.records_inserted == 5
    assert counters(service.get_batch(batch_id)) == (3, 1, 0)


def test_a_repeated_final_callback_changes_nothing(service, batch_id, conn):
    first = service.update_batch_detail(
        batch_id, "7203.T", "success", records_inserted=10, attempt=1
    )
    again = service.update_batch_detail(batch_id, "7203.T", "success", attempt=1)

    assert again.end_time == first.end_time
    assert again.records_inserted == 10
    assert counters(service.get_batch(batch_id)) == (1, 1, 0)


def test_update_batch_detail_creates_a_missing_row(service):
    batch_id = service.create_batch("daily", 1)

    detail = service.update_batch_detail(batch_id, "130A.T", "running", attempt=1)

    assert detail.stock_code == "130A.T" and detail.batch_execution_id == batch_id
    assert [d.id for d in service.get_batch_details(batch_id)] == [detail.id]


def test_a_writer_that_must_not_add_stocks_is_refused_and_writes_nothing(service):
    batch_id = service.create_batch("bulk_fetch", symbols=["7203.T"])

    with pytest.raises(BatchDetailNotFound) as refused:
        service.update_batch_detail(
            batch_id, "6758.T", "failed", attempt=1, create=False
        )

    assert (refused.value.batch_id, refused.value.stock_code) == (batch_id, "6758.T")
    assert [d.stock_code for d in service.get_batch_details(batch_id)] == ["7203.T"]
    assert service.get_batch(batch_id).failed_stocks == 0
    updated = service.update_batch_detail(
        batch_id, "7203.T", "success", attempt=1, create=False
    )
    assert updated.status == "success"


def test_update_batch_detail_rejects_bad_input(service, batch_id):
    with pytest.raises(BatchNotFound):
        service.update_batch_detail(MISSING, "7203.T", "running")
    with pytest.raises(ValueError, match="status"):
        service.update_batch_detail(batch_id, "7203.T", "done")
    with pytest.raises(ValueError, match="attempt"):
        service.update_batch_detail(batch_id, "7203.T", "running", attempt=-1)


@pytest.fixture
def slow_detail_writes(conn):
    """Hold every final detail write 5 ms inside its transaction.

    That widens the gap between writing a detail row and recounting the batch, so
    writers that do not serialize on the batch row lose counts every run, not once in
    a while.
    """
    conn.execute(
        """CREATE FUNCTION test_slow_detail_write() RETURNS trigger
           LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$"""
    )
    conn.execute(
        """CREATE TRIGGER test_slow_detail_write
           AFTER INSERT OR UPDATE ON batch_execution_details FOR EACH ROW
           WHEN (NEW.status IN ('success', 'failed'))
           EXECUTE FUNCTION test_slow_detail_write()"""
    )
    yield
    conn.execute("DROP FUNCTION test_slow_detail_write() CASCADE")


def test_8_threads_finishing_symbols_keep_counters_exact(
    service, conn, slow_detail_writes
):
    symbols = [f"{1000 + i}.T" for i in range(160)]
    batch_id = service.create_batch("bulk", symbols=symbols)

    # Every round the 8 final writes start together, the last round included.
    rounds = threading.Barrier(8, timeout=60)

    def work(index: int) -> None:
        for number, symbol in enumerate(symbols[index::8]):
            service.update_batch_detail(batch_id, symbol, "running", attempt=1)
            outcome = "failed" if number % 5 == 0 else "success"
            rounds.wait()
            service.update_batch_detail(batch_id, symbol, outcome, attempt=1)

    run_threads(8, work)

    batch = service.get_batch(batch_id)
    assert counters(batch) == stored_counts(conn, batch_id)
    assert counters(batch) == (160, 128, 32)


# create_batch_detail


def test_create_batch_detail_is_an_upsert(service, batch_id):
    new_id = service.create_batch_detail(batch_id, "8306.T")
    assert service.create_batch_detail(batch_id, "8306.T") == new_id

    service.update_batch_detail(batch_id, "8306.T", "success", attempt=1)
    assert service.create_batch_detail(batch_id, "8306.T") == new_id
    assert service.get_batch_details(batch_id, status="success")[0].id == new_id

    with pytest.raises(BatchNotFound):
        service.create_batch_detail(MISSING, "8306.T")


# complete_batch


def test_complete_batch_recounts_from_details(service, batch_id, conn):
    service.update_batch_detail(batch_id, "7203.T", "success", attempt=1)
    service.update_batch_detail(batch_id, "6758.T", "failed", attempt=1)
    service.update_batch_detail(batch_id, "9984.T", "failed", attempt=1)
    # Counters gone wrong (an older writer, a manual edit): complete_batch repairs them.
    conn.execute(
        "UPDATE batch_executions SET processed_stocks = 0, failed_stocks = 9 "
        "WHERE id = %s",
        (batch_id,),
    )

    batch = service.complete_batch(batch_id, "failed", "2 stocks failed")

    assert batch.status == "failed" and batch.end_time is not None
    assert batch.error_message == "2 stocks failed"
    assert counters(batch) == (3, 1, 2)


def test_complete_batch_without_details_keeps_progress(service):
    batch_id = service.create_batch("daily", 5)
    service.update_batch_progress(batch_id, processed=5, successful=4, failed=1)

    batch = service.complete_batch(batch_id)

    assert batch.status == "completed" and batch.error_message is None
    assert counters(batch) == (5, 4, 1)


def test_a_late_finalize_after_a_stop_leaves_the_batch_cancelled(service, batch_id):
    cancelled = service.cancel_batch(batch_id, "stopped by user")

    late = service.complete_batch(batch_id, "completed")

    assert late.status == "cancelled"
    assert late.end_time == cancelled.end_time
    assert late.error_message == "stopped by user"


def test_complete_batch_never_overwrites_a_final_batch(service, batch_id):
    done = service.complete_batch(batch_id, "completed")

    again = service.complete_batch(batch_id, "failed", "late failure")

    assert (again.status, again.end_time, again.error_message) == (
        "completed",
        done.end_time,
        None,
    )


def test_complete_batch_rejects_bad_arguments(service, batch_id):
    with pytest.raises(ValueError, match="status"):
        service.complete_batch(batch_id, "running")
    with pytest.raises(BatchNotFound):
        service.complete_batch(MISSING)
    assert service.get_batch(batch_id).status == "running"


# finish_unfinished_details / cancel_batch


def test_finish_unfinished_details_closes_only_unfinished(service, conn):
    batch_id = service.create_batch("bulk", symbols=["A.T", "B.T", "C.T", "D.T"])
    service.update_batch_detail(batch_id, "A.T", "success", attempt=1)
    service.update_batch_detail(batch_id, "B.T", "running", attempt=1)
    service.update_batch_detail(batch_id, "C.T", "retrying", attempt=1)

    changed = service.finish_unfinished_details(batch_id, "failed", "task was killed")

    assert changed == 3
    details = {d.stock_code: d for d in service.get_batch_details(batch_id)}
    assert details["A.T"].status == "success" and details["A.T"].error_message is None
    for symbol in ("B.T", "C.T", "D.T"):
        assert details[symbol].status == "failed"
        assert details[symbol].error_message == "task was killed"
        assert details[symbol].end_time is not None
    batch = service.get_batch(batch_id)
    assert counters(batch) == (4, 1, 3) == stored_counts(conn, batch_id)
    assert batch.status == "running"
    assert service.finish_unfinished_details(batch_id, "cancelled", "again") == 0


def test_finish_unfinished_details_rejects_bad_arguments(service, batch_id):
    with pytest.raises(ValueError, match="status"):
        service.finish_unfinished_details(batch_id, "success", "no")
    with pytest.raises(BatchNotFound):
        service.finish_unfinished_details(MISSING, "failed", "gone")


def test_cancel_batch_cancels_unfinished_stocks_and_is_idempotent(service, batch_id):
    service.update_batch_detail(batch_id, "7203.T", "success", attempt=1)
    service.update_batch_detail(batch_id, "6758.T", "running", attempt=1)

    first = service.cancel_batch(batch_id)
    again = service.cancel_batch(batch_id, "second stop")

    assert first.status == "cancelled" and first.end_time is not None
    assert first.error_message == "cancelled by request"
    assert again == first
    statuses = {d.stock_code: d.status for d in service.get_batch_details(batch_id)}
    assert statuses == {
        "7203.T": "success",
        "6758.T": "cancelled",
        "9984.T": "cancelled",
    }
    assert counters(again) == (3, 1, 0)


def test_cancel_keeps_a_finished_batch_but_closes_its_leftovers(service, batch_id):
    done = service.complete_batch(batch_id, "failed", "finalize ran early")

    after = service.cancel_batch(batch_id)

    assert (after.status, after.end_time) == ("failed", done.end_time)
    assert after.error_message == "finalize ran early"
    assert service.get_batch_details(batch_id, status="pending") == []
    assert counters(after) == (3, 0, 0)


def test_a_stock_that_finishes_after_the_stop_is_recorded(service, batch_id, conn):
    service.update_batch_detail(batch_id, "7203.T", "running", attempt=1)
    service.cancel_batch(batch_id)

    stored = service.update_batch_detail(
        batch_id, "7203.T", "success", records_inserted=5, attempt=1
    )

    assert stored.status == "success"
    batch = service.get_batch(batch_id)
    assert batch.status == "cancelled"
    assert counters(batch) == (3, 1, 0) == stored_counts(conn, batch_id)


def test_cancel_unknown_batch(service):
    with pytest.raises(BatchNotFound):
        service.cancel_batch(MISSING)


# list_batches / get_batch_details


def _set_start(conn, batch_id: int, start: datetime) -> None:
    conn.execute(
        "UPDATE batch_executions SET start_time = %s WHERE id = %s", (start, batch_id)
    )


def test_list_batches_filters_and_pages_newest_first(service, conn):
    base = datetime(2024, 4, 1, tzinfo=UTC)
    ids = []
    for day in range(6):
        batch_id = service.create_batch("daily" if day % 2 else "bulk", 1)
        _set_start(conn, batch_id, base + timedelta(days=day))
        ids.append(batch_id)
    service.cancel_batch(ids[4])

    page, total = service.list_batches()
    assert total == 6 and [b.id for b in page] == ids[::-1]

    page, total = service.list_batches(limit=2, offset=1)
    assert total == 6 and [b.id for b in page] == [ids[4], ids[3]]

    page, total = service.list_batches(batch_type="daily")
    assert total == 3 and [b.id for b in page] == [ids[5], ids[3], ids[1]]

    page, total = service.list_batches(status="cancelled")
    assert total == 1 and [b.id for b in page] == [ids[4]]

    page, total = service.list_batches(
        since=base + timedelta(days=1), until=base + timedelta(days=3)
    )
    assert total == 2 and [b.id for b in page] == [ids[2], ids[1]]

    page, total = service.list_batches(offset=10)
    assert (page, total) == ([], 6)


def test_list_batches_validates_its_arguments(service):
    for bad in (
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"status": "done"},
        {"since": datetime(2024, 4, 1)},
        {"until": datetime(2024, 4, 1)},
    ):
        with pytest.raises(ValueError):
            service.list_batches(**bad)
    assert service.list_batches(limit=500) == ([], 0)


def test_get_batch_details_filters_by_status(service, batch_id):
    service.update_batch_detail(batch_id, "6758.T", "success", attempt=1)

    pending = service.get_batch_details(batch_id, status="pending")

    assert [d.stock_code for d in pending] == ["7203.T", "9984.T"]
    assert service.get_batch_details(batch_id, status="failed") == []
    with pytest.raises(ValueError):
        service.get_batch_details(batch_id, status="done")
    with pytest.raises(BatchNotFound):
        service.get_batch_details(MISSING)
