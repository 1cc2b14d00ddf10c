"""The tasks `bulk_fetch` and `daily_fetch` share: fetch a group of symbols, close.

`fetch_prices` is mapped, one instance per group of symbols, in the `yahoo` pool.
`prepare_batch` returns the groups, a list of symbol lists, the only thing mapped over
(`publish_plan`); under the XCom key `run` it leaves what every instance shares:
`{"batch_id", "windows", "group_windows"}`, the windows as request fields and, when
there are several, each group's window as an index (by map index). Every instance
reads the whole mapped list from the api-server, so whatever goes into it is paid
for once per instance: a run of 4,000 one-symbol groups reads 4,000 times 4,000
entries. In one attempt an instance fetches each open symbol of its group
on its own (`kabuflow.pipeline.fetch_group`) and records every result at once:
`success` with the row counts, or `failed` for a permanent error. Then it fails the
attempt if a symbol needs another one (a retryable error: Airflow retries with
exponential backoff and jitter, and the next attempt skips the settled symbols), or
fails for good, without retry, if some symbol failed permanently.

`finalize_batch` runs when every fetch is done, whatever its state (`all_done`): it
fails any stock still without a result and closes the batch as `completed`. A batch
is `completed` whenever the run got through its stocks, however many failed (the
counters say how many); `failed` means the run itself could not do its work (an
invalid request, a batch that could not be prepared, a run killed before
`finalize_batch`), as in the original application, where `failed` meant the job
crashed.

Retry timing comes from the environment at parse time:
`KABUFLOW_RETRY_DELAY_SECONDS` (default 30) is the first delay; each further retry
doubles it, up to 10 minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Mapping
from typing import Any

from airflow.sdk import TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from kabuflow import callbacks
from kabuflow.batches import FINAL_BATCH_STATUSES
from kabuflow.bulk_request import BulkRequest, window_to_dict
from kabuflow.errors import InvalidRequestError, PermanentError, RetryableError
from kabuflow.intervals import FetchWindow
from kabuflow.run_record import (
    GroupProgress,
    batch_of_run,
    batch_service,
    close_batch,
    error_message,
)
from kabuflow.settings import SettingsError
from kabuflow.stack.config import YAHOO_POOL

log = logging.getLogger(__name__)

FETCH_RETRIES = 5
RETRY_DELAY_VARIABLE = "KABUFLOW_RETRY_DELAY_SECONDS"
DEFAULT_RETRY_DELAY = dt.timedelta(seconds=30)
MAX_RETRY_DELAY = dt.timedelta(minutes=10)
BACKOFF_FACTOR = 2.0
PREPARE_TASK_ID = "prepare_batch"
RUN_XCOM_KEY = "run"
BULK_BATCH_TYPE = "bulk_fetch"
DAILY_BATCH_TYPE = "all_stocks"
NO_RESULT = "no result was recorded for this stock: its task ended without one"


class GroupRetryError(RetryableError):
    """Some symbols of a group failed in a way that may pass on another attempt."""


class GroupFailedError(PermanentError):
    """Some symbols of a group failed for good; the others are settled."""


def prepare_bulk_batch(
    request: BulkRequest, *, run_id: str, dag_id: str
) -> dict[str, Any]:
    """Create the request's batch, or check the caller's; return the fetch plan.

    The plan is `prepare_batch`'s XCom (module doc). Raises `InvalidRequestError`
    (field `batch_id`) for a batch that does not exist, belongs to another run or
    holds other symbols, and `PermanentError` for a batch that is already final
    (stopped before its run started).
    """
    service = batch_service()
    symbols = list(request.symbols)
    if service is None:
        batch_id = None
    elif request.batch_id is None:
        batch_id = service.create_batch(
            BULK_BATCH_TYPE,
            symbols=symbols,
            job_id=run_id,
            dag_id=dag_id,
            parameters=_parameters(request.window, request.symbols_per_task),
        )
    else:
        batch_id = _check_callers_batch(service, request, run_id)
    return fetch_plan(batch_id, {request.window: symbols}, request.symbols_per_task)


def prepare_daily_batch(
    target: dt.date, *, run_id: str, dag_id: str, symbols_per_task: int
) -> dict[str, Any]:
    """Create the daily batch over the active universe; return the fetch plan.

    Each symbol gets the window `kabuflow.daily_plan` gives it; an empty universe
    gives a batch of 0 stocks and no group.
    """
    from kabuflow import daily_plan
    from kabuflow.stock_master import active_universe

    symbols = active_universe()
    plan = daily_plan.plan_windows(
        symbols, daily_plan.last_stored_dates(symbols), target
    )
    service = batch_service()
    batch_id = None
    if service is not None:
        parameters = {"target_session": target.isoformat(), "windows": len(plan)}
        batch_id = service.create_batch(
            DAILY_BATCH_TYPE,
            symbols=symbols,
            job_id=run_id,
            dag_id=dag_id,
            parameters={**parameters, "symbols_per_task": symbols_per_task},
        )
    log.info(
        "daily batch %s: %d symbols in %d windows", batch_id, len(symbols), len(plan)
    )
    return fetch_plan(batch_id, plan, symbols_per_task)


def _check_callers_batch(service, request: BulkRequest, run_id: str) -> int:
    batch = service.get_batch(request.batch_id)
    if batch is None or batch.job_id not in (None, run_id):
        raise InvalidRequestError(
            "batch_id", f"batch {request.batch_id} is not this run's batch"
        )
    if batch.status in FINAL_BATCH_STATUSES:
        raise PermanentError(f"batch {batch.id} is already {batch.status}")
    recorded = {detail.stock_code for detail in service.get_batch_details(batch.id)}
    if recorded != set(request.symbols):
        raise InvalidRequestError(
            "batch_id", f"batch {batch.id} holds other symbols than the request"
        )
    return batch.id


def _parameters(window, symbols_per_task: int) -> dict[str, Any]:
    return {**window_to_dict(window), "symbols_per_task": symbols_per_task}


def retry_delay() -> dt.timedelta:
    """Return the first retry delay: `KABUFLOW_RETRY_DELAY_SECONDS` or 30 s."""
    raw = os.environ.get(RETRY_DELAY_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_RETRY_DELAY
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_RETRY_DELAY.total_seconds():
        raise SettingsError(
            RETRY_DELAY_VARIABLE, f"expected seconds in (0, 600], got {raw!r}"
        )
    return dt.timedelta(seconds=seconds)


def fetch_plan(
    batch_id: int | None, windows: Mapping[FetchWindow, list[str]], size: int
) -> dict[str, Any]:
    """Cut each window's symbols into groups of at most `size`: `{"run", "groups"}`."""
    groups: list[list[str]] = []
    group_windows: list[int] = []
    for index, members in enumerate(windows.values()):
        for start in range(0, len(members), size):
            groups.append(members[start : start + size])
            group_windows.append(index)
    run = {
        "batch_id": batch_id,
        "windows": [window_to_dict(window) for window in windows],
        "group_windows": group_windows if len(windows) > 1 else None,
    }
    return {"run": run, "groups": groups}


def publish_plan(context, plan: Mapping[str, Any]) -> list[list[str]]:
    """Push the plan's `run` under `RUN_XCOM_KEY`; return its groups to be mapped."""
    context["ti"].xcom_push(key=RUN_XCOM_KEY, value=plan["run"])
    return plan["groups"]


def group_window(run: Mapping[str, Any], map_index: int) -> dict[str, Any]:
    """Return the request fields of the window of group `map_index` of `run`."""
    indexes = run["group_windows"]
    return run["windows"][0 if indexes is None else indexes[map_index]]


def symbols_label(symbols: list[str]) -> str:
    """Return how the UI names a group: its symbol, or its first and last and count."""
    if len(symbols) == 1:
        return symbols[0]
    return f"{symbols[0]} … {symbols[-1]} ({len(symbols)})"


@task(
    pool=YAHOO_POOL,
    retries=FETCH_RETRIES,
    retry_delay=retry_delay(),
    retry_exponential_backoff=BACKOFF_FACTOR,
    max_retry_delay=MAX_RETRY_DELAY,
    map_index_template="{{ symbols_label }}",
    # The counts are one value: unrolled, each key would cost an api-server call.
    multiple_outputs=False,
    on_execute_callback=callbacks.fetch_started,
    on_retry_callback=callbacks.fetch_retrying,
    on_success_callback=callbacks.fetch_succeeded,
    on_failure_callback=callbacks.fetch_failed,
)
def fetch_prices(symbols: list[str], run: dict[str, Any]) -> dict[str, int]:
    """Fetch and store the group's open symbols; return counts for XCom.

    Raises `GroupRetryError` to have Airflow retry, `AirflowFailException` when a
    symbol failed permanently.
    """
    context = get_current_context()
    context["symbols_label"] = symbols_label(symbols)
    ti = context["ti"]
    progress = GroupProgress(
        batch_service(),
        run["batch_id"],
        symbols,
        attempt=ti.try_number,
        first_attempt=callbacks.first_attempt_of_cycle(context),
    )
    try:
        return fetch_open_symbols(progress, group_window(run, ti.map_index))
    except PermanentError as err:
        raise AirflowFailException(str(err)) from err


def fetch_open_symbols(progress: GroupProgress, window_fields: dict) -> dict[str, int]:
    """Fetch each open symbol and record its result; raise if any did not settle.

    Raises `GroupRetryError` when a symbol may succeed on another attempt (errors
    outside kabuflow's hierarchy count as such), else `GroupFailedError` when a
    symbol failed permanently.
    """
    # Imported here: pandas and yfinance must not load when a DAG file is parsed.
    from kabuflow.bulk_request import parse_window
    from kabuflow.pipeline import fetch_group
    from kabuflow.source import YahooSource
    from kabuflow.store import PriceStore

    symbols = progress.open_symbols()
    log.info("%d of %d symbols to fetch", len(symbols), len(progress.symbols))
    with YahooSource() as source:
        result = fetch_group(
            symbols,
            parse_window(window_fields),
            source=source,
            store=PriceStore(),
            report=_recorder(progress),
        )

    _raise_for_errors(result.errors, len(symbols))
    return _counts(result, len(symbols))


def _recorder(progress: GroupProgress):
    # Each settled symbol is written at once: a task killed halfway keeps them.

    def record(symbol: str, result) -> None:
        if isinstance(result, PermanentError):
            progress.record_failure(symbol, result)
        elif not isinstance(result, Exception):
            progress.record_success(symbol, result.inserted, result.updated)

    return record


def _raise_for_errors(errors: dict[str, Exception], attempted: int) -> None:
    retry = {s: e for s, e in errors.items() if not isinstance(e, PermanentError)}
    failed = {s: e for s, e in errors.items() if isinstance(e, PermanentError)}
    if retry:
        raise GroupRetryError(_summary(retry, attempted, "need another attempt"))
    if failed:
        raise GroupFailedError(_summary(failed, attempted, "failed permanently"))


def _summary(errors: dict[str, Exception], attempted: int, what: str) -> str:
    first = next(iter(errors))
    return (
        f"{len(errors)} of {attempted} symbols {what}: {first}: "
        f"{error_message(errors[first])}"
        + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    )


def _counts(result, attempted: int) -> dict[str, int]:
    outcomes = result.outcomes.values()
    return {
        "symbols": attempted,
        "stored": sum(not o.no_data_expected for o in outcomes),
        "no_data_expected": sum(o.no_data_expected for o in outcomes),
        "inserted": sum(o.inserted for o in outcomes),
        "updated": sum(o.updated for o in outcomes),
    }


@task(trigger_rule=TriggerRule.ALL_DONE)
def finalize_batch() -> dict[str, Any]:
    """Fail every stock left without a result and close the run's batch.

    Raises `AirflowFailException` when `prepare_batch` did not succeed, so a refused
    request shows as a failed run (its batch, if any, was failed by then).
    """
    context = get_current_context()
    service = batch_service()
    batch_id = batch_of_run(service, context["run_id"], context["params"])

    closed = close_batch(service, batch_id, status="completed", reason=NO_RESULT)

    if batch_id is not None:
        _log_batch(service.get_batch(batch_id))
    if not _prepared(context):
        raise AirflowFailException(f"{PREPARE_TASK_ID} failed: nothing was fetched")
    return {"batch_id": batch_id, "closed": closed}


def _prepared(context) -> bool:
    ti = context["ti"]
    done = ti.get_ti_count(
        dag_id=ti.dag_id,
        task_ids=[PREPARE_TASK_ID],
        run_ids=[ti.run_id],
        states=["success"],
    )
    return done > 0


def _log_batch(batch) -> None:
    log.info(
        "batch %s %s: %d of %d stocks succeeded, %d failed",
        batch.id,
        batch.status,
        batch.successful_stocks,
        batch.total_stocks,
        batch.failed_stocks,
    )
