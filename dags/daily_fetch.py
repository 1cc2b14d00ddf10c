"""
### daily_fetch

Bring the daily bars (`1d`) of the whole active universe up to date after the Tokyo
close, on trading days only.

**Schedule.** Weekdays at 17:00 Asia/Tokyo, an hour and a half after the 15:30
close, so Yahoo has the day's bar. Tokyo holidays are weekdays too: the first task,
`check_session`, asks the exchange calendar (exchange-calendars, `XTKS`) and skips
the whole run on a day without a session, so such a run creates no batch. The UI's
"next run" therefore can name a holiday; the run it starts then does nothing.

**Universe.** Active ordinary shares of `stock_master` (about 3,800; refreshed by
`stock_master_refresh`): ETFs, REITs and PRO Market issues are left out.

**Incremental.** Each stock is fetched from its third-last stored session through
today's: the sessions not yet stored plus a few again, since Yahoo revises recent
bars. A stock with nothing stored gets one year; a corporate action the store has
not seen makes the pipeline re-fetch that stock's whole history.

**Tasks.** `check_session`, `prepare_batch` (the `all_stocks` batch, one row per
stock), then the same `fetch_prices` and `finalize_batch` as `bulk_fetch`, with
`symbols_per_task` stocks (default 50) per mapped instance. A universe with nothing
in it still closes its batch: `completed`, 0 stocks.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from kabuflow import callbacks
from kabuflow.bulk_request import MAX_SYMBOLS_PER_TASK
from kabuflow.fetch_tasks import (
    PREPARE_TASK_ID,
    RUN_XCOM_KEY,
    fetch_prices,
    finalize_batch,
)

DAILY_SYMBOLS_PER_TASK = 50
TOKYO = "Asia/Tokyo"


def _target(context) -> pendulum.DateTime:
    # A manual run has no logical date: it fetches through the day it runs.
    dag_run = context["dag_run"]
    return dag_run.logical_date or dag_run.run_after


@task.short_circuit
def check_session() -> bool:
    """Go on only if the run's Tokyo date holds a session."""
    from kabuflow.daily_plan import target_session

    return target_session(_target(get_current_context())) is not None


@task(task_id=PREPARE_TASK_ID, on_failure_callback=callbacks.prepare_failed)
def prepare_batch() -> list[list[str]]:
    """Plan each stock's window, create the `all_stocks` batch; return the plan."""
    from kabuflow.daily_plan import target_session
    from kabuflow.fetch_tasks import prepare_daily_batch, publish_plan

    context = get_current_context()
    plan = prepare_daily_batch(
        target_session(_target(context)),
        run_id=context["run_id"],
        dag_id=context["dag"].dag_id,
        symbols_per_task=context["params"]["symbols_per_task"],
    )
    return publish_plan(context, plan)


@dag(
    schedule=CronTriggerTimetable("0 17 * * 1-5", timezone=TOKYO),
    start_date=pendulum.datetime(2020, 1, 1, tz=TOKYO),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    params={
        "symbols_per_task": Param(
            DAILY_SYMBOLS_PER_TASK,
            type="integer",
            minimum=1,
            maximum=MAX_SYMBOLS_PER_TASK,
        ),
    },
    tags=["kabuflow"],
    on_success_callback=callbacks.run_finished,
    on_failure_callback=callbacks.run_finished,
)
def daily_fetch():
    groups = prepare_batch()
    check_session() >> groups
    fetch_prices.partial(run=groups[RUN_XCOM_KEY]).expand(symbols=groups) >> (
        finalize_batch()
    )


daily_fetch()
