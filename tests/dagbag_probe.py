"""Parse `dags/` the way Airflow does and describe what came out, as JSON on stdout.

Run by `tests/test_dags_import.py` in a process of its own, with every database URL
pointing at a closed port. Every socket connection attempt during the parse is
recorded and refused, so the description proves the parse touched no network and
no database; it also names the heavy modules the parse itself imported. argv[1] is
a JSON object of DAG id to a list of confs to check against that DAG's params.
"""

from __future__ import annotations

import copy
import json
import socket
import sys

HEAVY_MODULES = ("pandas", "numpy", "yfinance", "exchange_calendars", "curl_cffi")

attempts: list[str] = []


def _refuse(self, address, *args, **kwargs):
    attempts.append(repr(address))
    raise ConnectionRefusedError(f"no connection allowed while parsing: {address!r}")


def _task(task) -> dict:
    retry_delay = task.retry_delay.total_seconds() if task.retry_delay else None
    max_delay = task.max_retry_delay
    return {
        "mapped": task.is_mapped,
        "pool": task.pool,
        "retries": task.retries,
        "retry_delay": retry_delay,
        "backoff": task.retry_exponential_backoff,
        "max_retry_delay": max_delay.total_seconds() if max_delay else None,
        "trigger_rule": str(task.trigger_rule),
        "map_index_template": getattr(task, "map_index_template", None),
        "upstream": sorted(task.upstream_task_ids),
        "callbacks": {
            name: [getattr(cb, "__name__", repr(cb)) for cb in _as_list(task, name)]
            for name in (
                "on_execute_callback",
                "on_retry_callback",
                "on_success_callback",
                "on_failure_callback",
            )
        },
    }


def _as_list(task, name: str) -> list:
    value = getattr(task, name, None)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _check_conf(dag, conf: dict) -> str | None:
    params = copy.deepcopy(dag.params)
    try:
        params.update(conf)
        params.validate()
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return None


def _dag(dag, confs: list[dict]) -> dict:
    return {
        "fileloc": dag.fileloc,
        "schedule": repr(dag.timetable),
        "doc_md": dag.doc_md,
        "dag_callbacks": [
            getattr(cb, "__name__", repr(cb))
            for cb in (dag.on_success_callback, dag.on_failure_callback)
        ],
        "params": {name: dag.params.get_param(name).schema for name in dag.params},
        "tasks": {task.task_id: _task(task) for task in dag.tasks},
        "conf_errors": [_check_conf(dag, conf) for conf in confs],
    }


def main() -> int:
    confs = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse

    from airflow.dag_processing.dagbag import DagBag

    import_before = set(sys.modules)
    dagbag = DagBag()
    loaded = set(sys.modules) - import_before

    from kabuflow import db

    description = {
        "import_errors": dagbag.import_errors,
        "dags": {d: _dag(dag, confs.get(d, [])) for d, dag in dagbag.dags.items()},
        "connection_attempts": attempts,
        "database_pools": len(db._pools),
        "heavy_modules": sorted({m.split(".")[0] for m in loaded} & set(HEAVY_MODULES)),
    }
    # The last line of stdout: Airflow may log to stdout before it.
    print(json.dumps(description, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
