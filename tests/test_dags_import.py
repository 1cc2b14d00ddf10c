"""Every DAG in `dags/` parses cleanly, cheaply and offline, with the designed shape.

The parse runs in a process of its own (`tests/dagbag_probe.py`): Airflow reads its
configuration once per process, and here every database URL points at a closed
port while every socket connection is refused and recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLOSED = "127.0.0.1:1"
FETCH_CALLBACKS = {
    "on_execute_callback": ["fetch_started"],
    "on_retry_callback": ["fetch_retrying"],
    "on_success_callback": ["fetch_succeeded"],
    "on_failure_callback": ["fetch_failed"],
}
GOOD = {"symbols": ["7203.T"], "interval": "1d", "period": "1y"}
# Case A5, plus the shapes next to it that must pass.
CONFS = [
    GOOD,
    {**GOOD, "symbols": "7203.T"},
    {**GOOD, "symbols": [1, 2]},
    {**GOOD, "interval": "7m"},
    {**GOOD, "period": "-1d"},
    {"symbols": ["7203.T"], "period": "1y"},
    {**GOOD, "symbols": []},
    {**GOOD, "symbols_per_task": 501},
    {**GOOD, "batch_id": "12"},
    {"symbols": ["7203.T"], "interval": "60m", "start": "2024-01-04", "end": "2024-02"},
    {
        "symbols": ["7203.T"],
        "interval": "60m",
        "start": "2024-01-04",
        "end": "2024-02-01",
    },
    {**GOOD, "batch_id": 12, "symbols_per_task": 500},
]


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    """What Airflow's DagBag made of `dags/`, parsed offline."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://x@{CLOSED}/none",
        "KABUFLOW_DATABASE_URL": f"postgresql://x@{CLOSED}/none",
        "KABUFLOW_YAHOO_URL": f"http://{CLOSED}",
    }
    probe = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "dagbag_probe.py"),
            json.dumps({"bulk_fetch": CONFS}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(probe.stdout.strip().splitlines()[-1])


def test_every_dag_file_parses_without_errors(parsed):
    assert parsed["import_errors"] == {}
    assert sorted(parsed["dags"]) == sorted(
        path.stem for path in (REPO / "dags").glob("*.py")
    )


def test_dag_ids_equal_file_names(parsed):
    for dag_id, dag in parsed["dags"].items():
        assert Path(dag["fileloc"]).stem == dag_id


def test_parsing_touches_no_network_no_database_and_no_heavy_module(parsed):
    assert parsed["connection_attempts"] == []
    assert parsed["database_pools"] == 0
    assert parsed["heavy_modules"] == []


def test_every_dag_explains_itself_in_markdown(parsed):
    for dag_id, dag in parsed["dags"].items():
        assert dag["doc_md"].lstrip().startswith(f"### {dag_id}")


def test_bulk_fetch_maps_one_retried_fetch_per_group_then_closes(parsed):
    dag = parsed["dags"]["bulk_fetch"]
    tasks = dag["tasks"]

    assert set(tasks) == {"prepare_batch", "fetch_prices", "finalize_batch"}
    assert "NullTimetable" in dag["schedule"]
    fetch = tasks["fetch_prices"]
    assert fetch["mapped"] is True
    assert fetch["upstream"] == ["prepare_batch"]
    assert fetch["pool"] == "yahoo"
    assert fetch["retries"] == 5
    assert fetch["backoff"] == 2.0
    assert fetch["max_retry_delay"] == 600.0
    assert fetch["map_index_template"] == "{{ symbols_label }}"
    assert fetch["callbacks"] == FETCH_CALLBACKS
    assert tasks["prepare_batch"]["callbacks"]["on_failure_callback"] == [
        "prepare_failed"
    ]
    assert tasks["finalize_batch"]["trigger_rule"] == "TriggerRule.ALL_DONE"
    assert tasks["finalize_batch"]["upstream"] == ["fetch_prices"]
    assert dag["dag_callbacks"] == ["run_finished", "run_finished"]


def test_daily_fetch_shares_the_fetch_and_runs_after_the_tokyo_close(parsed):
    dag = parsed["dags"]["daily_fetch"]
    tasks = dag["tasks"]
    bulk = parsed["dags"]["bulk_fetch"]["tasks"]

    assert "0 17 * * 1-5" in dag["schedule"]
    assert "Asia/Tokyo" in dag["schedule"]
    assert tasks["prepare_batch"]["upstream"] == ["check_session"]
    assert tasks["fetch_prices"] == bulk["fetch_prices"]
    assert tasks["finalize_batch"] == bulk["finalize_batch"]
    assert dag["params"]["symbols_per_task"]["maximum"] == 500
    assert dag["dag_callbacks"] == ["run_finished", "run_finished"]


def test_stock_master_refresh_loads_the_list_weekly(parsed):
    dag = parsed["dags"]["stock_master_refresh"]

    assert list(dag["tasks"]) == ["load_listed_issues"]
    assert "0 6 * * 1" in dag["schedule"]
    assert dag["tasks"]["load_listed_issues"]["retries"] == 3


def test_bulk_fetch_params_refuse_a_malformed_conf(parsed):
    errors = dict(
        zip(
            map(json.dumps, CONFS),
            parsed["dags"]["bulk_fetch"]["conf_errors"],
            strict=True,
        )
    )

    def refused(conf) -> str | None:
        return errors[json.dumps(conf)]

    assert refused(GOOD) is None
    assert refused(CONFS[-1]) is None
    assert refused(CONFS[-2]) is None
    for conf, param in [
        (CONFS[1], "symbols"),
        (CONFS[2], "symbols"),
        (CONFS[3], "interval"),
        (CONFS[4], "period"),
        (CONFS[5], "interval"),
        (CONFS[6], "symbols"),
        (CONFS[7], "symbols_per_task"),
        (CONFS[8], "batch_id"),
        (CONFS[9], "end"),
    ]:
        assert refused(conf).startswith(
            f"ParamValidationError: Invalid input for param {param}:"
        )
