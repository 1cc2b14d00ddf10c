"""
### bulk_fetch

Fetch prices for a list of symbols, one run per request (no schedule). The REST API
(`POST /api/bulk/start`) triggers it; so can the **Trigger** button, with the form
below.

**Conf**

| field | meaning |
|---|---|
| `symbols` | 1 to `KABUFLOW_MAX_SYMBOLS` (5,000) Yahoo symbols; `7203` means `7203.T` |
| `interval` | `1m` `2m` `5m` `15m` `30m` `60m`/`1h` `90m` `1d` `5d` `1wk` `1mo` `3mo` |
| `period` | `1d` `5d` `1mo` `3mo` `6mo` `1y` `2y` `5y` `10y` `ytd` `max`; or instead |
| `start`, `end` | `YYYY-MM-DD`, `end` exclusive |
| `batch_id` | the batch record the API created; empty: the run creates its own |
| `symbols_per_task` | symbols per `fetch_prices` instance, 1 to 500 (default 1) |

**Tasks**

1. `prepare_batch` checks the request (an invalid one fails the run at once),
   creates the batch record with one `pending` row per stock unless `batch_id` was
   given, and cuts the symbols into groups.
2. `fetch_prices`, one mapped instance per group (the instance is named after its
   symbols), in the `yahoo` pool. Throttling and network errors retry with
   exponential backoff; an unknown symbol or a refused range fails without retry.
   Clear one instance to fetch its stocks again.
3. `finalize_batch` closes the batch when every instance is done: `completed`, with
   the failed stocks counted. If the run dies before that, the DAG callback closes
   the batch as `failed` and fails every stock left without a result.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from kabuflow import callbacks
from kabuflow.bulk_request import DEFAULT_SYMBOLS_PER_TASK, MAX_SYMBOLS_PER_TASK
from kabuflow.fetch_tasks import (
    PREPARE_TASK_ID,
    RUN_XCOM_KEY,
    fetch_prices,
    finalize_batch,
)
from kabuflow.intervals import INTERVAL_ALIASES, INTERVALS, PERIODS
from kabuflow.settings import get_settings

SYMBOL_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 64}
DATE_OR_NULL = {"type": ["null", "string"], "format": "date"}


def _params() -> dict[str, Param]:
    return {
        "symbols": Param(
            type="array",
            items=SYMBOL_SCHEMA,
            minItems=1,
            maxItems=get_settings().max_symbols,
            description="Yahoo symbols, e.g. 7203.T",
        ),
        "interval": Param(type="string", enum=[*INTERVALS, *INTERVAL_ALIASES]),
        "period": Param(None, type=["null", "string"], enum=[None, *PERIODS]),
        "start": Param(None, **DATE_OR_NULL, description="with end, instead of period"),
        "end": Param(None, **DATE_OR_NULL, description="exclusive"),
        "batch_id": Param(None, type=["null", "integer"], minimum=1),
        "symbols_per_task": Param(
            DEFAULT_SYMBOLS_PER_TASK,
            type="integer",
            minimum=1,
            maximum=MAX_SYMBOLS_PER_TASK,
        ),
    }


@task(task_id=PREPARE_TASK_ID, on_failure_callback=callbacks.prepare_failed)
def prepare_batch() -> list[list[str]]:
    """Check the request, create or check its batch; return the fetch plan."""
    from kabuflow.bulk_request import parse_bulk_request
    from kabuflow.errors import PermanentError
    from kabuflow.fetch_tasks import prepare_bulk_batch, publish_plan

    context = get_current_context()
    try:
        request = parse_bulk_request(context["params"])
        plan = prepare_bulk_batch(
            request, run_id=context["run_id"], dag_id=context["dag"].dag_id
        )
    except PermanentError as err:
        raise AirflowFailException(f"invalid request: {err}") from err
    return publish_plan(context, plan)


@dag(
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    params=_params(),
    tags=["kabuflow"],
    on_success_callback=callbacks.run_finished,
    on_failure_callback=callbacks.run_finished,
)
def bulk_fetch():
    groups = prepare_batch()
    fetch_prices.partial(run=groups[RUN_XCOM_KEY]).expand(symbols=groups) >> (
        finalize_batch()
    )


bulk_fetch()
