"""
### kabuflow_test_map

Test-only DAG of the Airflow stack tests. It maps one trivial task over the run's
`items`, each instance sleeping `seconds` inside the Yahoo pool, so a test can watch
mapped instances succeed, stop a run halfway, or expand more than 1,024 instances.
"""

from __future__ import annotations

import time

from airflow.sdk import Param, dag, get_current_context, task

from kabuflow.stack.config import YAHOO_POOL


@dag(
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["kabuflow-test"],
    params={
        "items": Param([], type="array", items={"type": "string"}),
        "seconds": Param(0, type="number", minimum=0),
    },
)
def kabuflow_test_map():
    @task
    def list_items() -> list[str]:
        return get_current_context()["params"]["items"]

    @task(pool=YAHOO_POOL, map_index_template="{{ item_label }}")
    def echo_item(item: str) -> str:
        context = get_current_context()
        context["item_label"] = item
        time.sleep(context["params"]["seconds"])
        return item

    echo_item.expand(item=list_items())


kabuflow_test_map()
