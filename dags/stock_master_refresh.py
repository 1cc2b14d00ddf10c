"""
### stock_master_refresh

Load the exchange's listed-issues list into `stock_master`, the universe
`daily_fetch` works through. Runs every Monday at 06:00 Asia/Tokyo, before the
week's first session; JPX updates its list monthly, and a reload that finds nothing
new changes nothing.

**Source.** The `source` param (an http(s) URL or a file path on the workers), else
`KABUFLOW_LISTED_ISSUES_URL`, else the list bundled in `data/sample/` (offline). The
list is JPX's CSV with its Japanese headers; their `.xls` must be saved as CSV first.

**What it does.** New codes are added, changed ones updated, codes missing from the
list marked delisted (never deleted) and codes that come back relisted. Each refresh
is logged in `stock_master_updates` with those counts, failed ones included. A list
that is empty, repeats a code or is older than the last one loaded is refused and
changes nothing. A failed download retries; a malformed list does not.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

TOKYO = "Asia/Tokyo"


@task(retries=3, retry_delay=dt.timedelta(minutes=5))
def load_listed_issues() -> dict:
    """Load the list into `stock_master`; return what changed."""
    from airflow.sdk.exceptions import AirflowFailException

    from kabuflow.errors import PermanentError
    from kabuflow.stock_master import refresh_stock_master

    try:
        return refresh_stock_master(get_current_context()["params"]["source"]).as_dict()
    except PermanentError as err:
        raise AirflowFailException(str(err)) from err


@dag(
    schedule=CronTriggerTimetable("0 6 * * 1", timezone=TOKYO),
    start_date=pendulum.datetime(2024, 1, 1, tz=TOKYO),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    params={
        "source": Param(
            None,
            type=["null", "string"],
            description="URL or path of the list; empty: the configured default",
        ),
    },
    tags=["kabuflow"],
)
def stock_master_refresh():
    load_listed_issues()


stock_master_refresh()
