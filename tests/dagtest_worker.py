"""Run `dag.test()` on request, in a process of its own: the DAG test layer's engine.

Airflow reads its configuration once, when it is first imported, and its first task
run costs about ten seconds of set-up; so one worker process per test session runs
every `dag.test()` the tests ask for, with the Airflow environment it was started
with, and the pytest process never imports Airflow for it.

Protocol: one JSON request per line on stdin, `{"dag_id", "conf", "logical_date",
"env"}` (`env` is set in `os.environ` for that run only: the tasks run in this
process); one JSON answer per line on the original stdout. Everything Airflow logs
goes to stderr.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import time
import traceback


def _protocol_stream():
    # Airflow and the tasks log to stdout too: keep the real stdout for answers.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def _parse():
    """Parse the DAG folder afresh.

    Each request gets new DAG objects, as each Airflow task process does: resolving
    a `Param` stores the run's value in it, so a DAG object reused across runs
    would give the next run the previous run's conf as defaults.
    """
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def _use_the_parsed_dag_for_dag_callbacks(current: dict) -> None:
    """Give DAG-level callbacks the parsed DAG, as the dag-processor does.

    `dag.test()` hands them the re-deserialized DAG instead, and building their
    context from it fails on any `Param` without a valid default ("No value passed
    and Param has no default value", Airflow 3.3.2): the callback would never run.
    """
    from airflow.models.dagrun import DagRun

    execute = DagRun.execute_dag_callbacks

    def execute_with_parsed_dag(self, dag, *args, **kwargs):
        return execute(self, current["dagbag"].get_dag(dag.dag_id), *args, **kwargs)

    DagRun.execute_dag_callbacks = execute_with_parsed_dag


@contextlib.contextmanager
def _environment(changes: dict[str, str]):
    """Set `changes` in `os.environ` for one run, then put the old values back."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _forget_runs(dag_id: str, logical_date: dt.datetime) -> None:
    """Delete the DAG's runs of `logical_date`: `dag.test()` would reuse one."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(
            delete(DagRun).where(
                DagRun.dag_id == dag_id, DagRun.logical_date == logical_date
            )
        )


def _run(dagbag, request: dict) -> dict:
    dag = dagbag.get_dag(request["dag_id"])
    raw_date = request.get("logical_date")
    logical_date = None if raw_date is None else dt.datetime.fromisoformat(raw_date)
    if logical_date is not None:
        _forget_runs(dag.dag_id, logical_date)

    started = time.monotonic()
    run = dag.test(run_conf=request.get("conf"), logical_date=logical_date)
    seconds = time.monotonic() - started

    tasks = [
        {
            "task_id": ti.task_id,
            "map_index": ti.map_index,
            "state": None if ti.state is None else str(ti.state),
            "try_number": ti.try_number,
            "rendered_map_index": ti.rendered_map_index,
        }
        for ti in run.get_task_instances()
    ]
    return {
        "run_id": run.run_id,
        "state": str(run.state),
        "seconds": seconds,
        "tasks": tasks,
    }


def main() -> int:
    answers = _protocol_stream()
    current = {"dagbag": _parse()}
    _use_the_parsed_dag_for_dag_callbacks(current)
    errors = current["dagbag"].import_errors
    answers.write(json.dumps({"ready": True, "import_errors": errors}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        with _environment(request.get("env") or {}):
            try:
                current["dagbag"] = _parse()
                answer = _run(current["dagbag"], request)
            except Exception as err:
                traceback.print_exc()
                answer = {"error": f"{type(err).__name__}: {err}"}
        answers.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
