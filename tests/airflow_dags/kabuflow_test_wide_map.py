"""
### kabuflow_test_wide_map

Test-only DAG of the Airflow stack tests. It maps a no-op over the run's `items`, so a
test can prove that a list longer than Airflow's default `max_map_length` (1,024) is
accepted and expanded, without paying for a thousand task processes: the scheduler
marks mapped `EmptyOperator` instances successful without running them.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Param, dag, get_current_context, task


@dag(
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["kabuflow-test"],
    params={"items": Param([], type="array", items={"type": "string"})},
)
def kabuflow_test_wide_map():
    @task
    def list_items() -> list[str]:
        return get_current_context()["params"]["items"]

    # `doc` is any argument the operator accepts: each instance gets one item.
    EmptyOperator.partial(task_id="skip_item").expand(doc=list_items())


kabuflow_test_wide_map()
