"""`dag.test()` runs of the fetch DAGs against the replay server and the app database.

The DAG test layer: real tasks, retries and callbacks of both kinds, in one worker
process (`tests/dagtest_worker.py`) with a metadata database of its own, no scheduler.
Retries wait about a second (`KABUFLOW_RETRY_DELAY_SECONDS=1`).

The metadata database is `KABUFLOW_TEST_DAGTEST_DATABASE_URL` (default
`kabuflow_test_dagtest` on the local server; created if missing): never one a running
scheduler uses, or it would pick up these runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from request_cases import MALFORMED_IDS, MALFORMED_REQUESTS
from testdb import reset_schema

from kabuflow.intervals import FetchWindow
from kabuflow.replay import ReplayServer

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DAGTEST_DATABASE_URL = os.environ.get(
    "KABUFLOW_TEST_DAGTEST_DATABASE_URL",
    "postgresql://postgres@127.0.0.1:5432/kabuflow_test_dagtest",
)
WINDOW = {"interval": "1d", "start": "2022-08-01", "end": "2022-09-01"}
# 2022-08-01 .. 2022-08-31 holds 22 Tokyo sessions (no holiday but 08-11).
SESSIONS_IN_WINDOW = 22
UNKNOWN = "9999.T"

pytestmark = pytest.mark.timeout(900)


@dataclass
class RunResult:
    """What the worker reports about one `dag.test()` run."""

    run_id: str
    state: str
    seconds: float
    tasks: list[dict]

    def task_states(self, task_id: str) -> list[str]:
        found = [t for t in self.tasks if t["task_id"] == task_id]
        return [t["state"] for t in sorted(found, key=lambda t: t["map_index"])]

    def tries(self, task_id: str) -> list[int]:
        found = [t for t in self.tasks if t["task_id"] == task_id]
        return [t["try_number"] for t in sorted(found, key=lambda t: t["map_index"])]


class DagRunner:
    """Send `dag.test()` requests to the worker process and read its answers."""

    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    def answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the dag.test worker died; see {self.log_path}")
        return json.loads(line)

    def run(self, dag_id, conf=None, *, logical_date=None, env=None) -> RunResult:
        request = {"dag_id": dag_id, "conf": conf, "logical_date": logical_date}
        self.process.stdin.write(json.dumps({**request, "env": env or {}}) + "\n")
        self.process.stdin.flush()
        answer = self.answer()
        if "error" in answer:
            raise DagTestError(answer["error"])
        return RunResult(**answer)


class DagTestError(Exception):
    """`dag.test()` raised in the worker; the message is its error."""


def _airflow_env(home: Path, app_database_url: str) -> dict[str, str]:
    scheme, rest = DAGTEST_DATABASE_URL.split("://", 1)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{rest}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__MAX_MAP_LENGTH": "10000",
        "KABUFLOW_DATABASE_URL": app_database_url,
        "KABUFLOW_RETRY_DELAY_SECONDS": "1",
    }


def _empty_database(url: str) -> None:
    """Create the database if missing, else drop everything in it."""
    name = url.rsplit("/", 1)[1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if found.fetchone() is None:
            create = psycopg.sql.SQL("CREATE DATABASE {}")
            conn.execute(create.format(psycopg.sql.Identifier(name)))
            return
    reset_schema(url)


@pytest.fixture(scope="module")
def dag_runner(database_url):
    """A worker running `dag.test()` on a migrated metadata database of its own."""
    # Not under pytest's temporary root: other test sessions on this machine prune it.
    home = Path(tempfile.mkdtemp(prefix="kabuflow-dagtest-"))
    env = _airflow_env(home, database_url)
    _empty_database(DAGTEST_DATABASE_URL)
    subprocess.run(
        [VENV_BIN / "airflow", "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )

    log_path = home / "worker.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "dagtest_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=env,
            text=True,
        )
    runner = DagRunner(process, log_path)
    try:
        ready = runner.answer()
        assert ready["import_errors"] == {}
        yield runner
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def replay():
    """The replay server over the bundled sample data, for the whole module."""
    server = ReplayServer()
    with server.running():
        yield server


@pytest.fixture
def yahoo(replay):
    """The replay server with no scenario; its URL goes to every run's tasks."""
    replay.set_scenario({})
    yield replay
    replay.set_scenario({})


def run_bulk(dag_runner, yahoo, symbols, **conf) -> RunResult:
    conf = {"symbols": symbols, **WINDOW, **conf}
    return dag_runner.run("bulk_fetch", conf, env={"KABUFLOW_YAHOO_URL": yahoo.url})


def batch_of(conn, run_id: str) -> dict:
    row = conn.execute(
        "SELECT id, batch_type, status, total_stocks, processed_stocks,"
        " successful_stocks, failed_stocks, error_message, end_time"
        " FROM batch_executions WHERE job_id = %s",
        (run_id,),
    ).fetchone()
    assert row is not None, f"no batch for run {run_id}"
    keys = (
        "id type status total processed successful failed error_message end_time"
    ).split()
    return dict(zip(keys, row, strict=True))


def details_of(conn, batch_id: int) -> dict[str, dict]:
    rows = conn.execute(
        "SELECT stock_code, status, attempts, records_inserted, error_message, end_time"
        " FROM batch_execution_details WHERE batch_execution_id = %s",
        (batch_id,),
    ).fetchall()
    keys = ("status", "attempts", "inserted", "error_message", "end_time")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def stored_bars(conn, symbol: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM daily_prices WHERE symbol = %s AND interval = '1d'",
        (symbol,),
    ).fetchone()[0]


def assert_counters_match_details(batch: dict, details: dict[str, dict]) -> None:
    statuses = [detail["status"] for detail in details.values()]
    assert batch["total"] == len(details)
    assert batch["successful"] == statuses.count("success")
    assert batch["failed"] == statuses.count("failed")
    assert batch["processed"] == len(statuses) - statuses.count("pending")
    assert set(statuses) <= {"success", "failed"}, "every stock has a final row"


def lift_scenario_when_retrying(conn_url: str, yahoo, symbol: str) -> threading.Thread:
    """Clear the replay scenario once `symbol`'s row says `retrying`, from a thread."""

    def watch():
        with psycopg.connect(conn_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT 1 FROM batch_execution_details"
                    " WHERE stock_code = %s AND status = 'retrying'",
                    (symbol,),
                ).fetchone()
                if row:
                    yahoo.set_scenario({})
                    return
                time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def test_every_stock_is_stored_and_recorded(dag_runner, yahoo, conn):
    symbols = ["7203.T", "6758.T", "9984.T"]

    run = run_bulk(dag_runner, yahoo, symbols)

    assert run.state == "success"
    assert run.task_states("fetch_prices") == ["success"] * 3
    batch = batch_of(conn, run.run_id)
    details = details_of(conn, batch["id"])
    assert batch["type"] == "bulk_fetch"
    assert batch["status"] == "completed"
    assert (batch["total"], batch["successful"], batch["failed"]) == (3, 3, 0)
    assert_counters_match_details(batch, details)
    for symbol in symbols:
        assert stored_bars(conn, symbol) == SESSIONS_IN_WINDOW
        assert details[symbol]["inserted"] == SESSIONS_IN_WINDOW
        assert details[symbol]["attempts"] == 1
    assert [t["rendered_map_index"] for t in run.tasks if t["map_index"] >= 0] == [
        "7203.T",
        "6758.T",
        "9984.T",
    ]


def test_an_unknown_symbol_fails_at_once_without_retry(dag_runner, yahoo, conn):
    run = run_bulk(dag_runner, yahoo, ["7203.T", UNKNOWN])

    assert run.task_states("fetch_prices") == ["success", "failed"]
    assert run.tries("fetch_prices") == [1, 1]
    batch = batch_of(conn, run.run_id)
    details = details_of(conn, batch["id"])
    assert batch["status"] == "completed"
    assert (batch["successful"], batch["failed"]) == (1, 1)
    assert details[UNKNOWN]["status"] == "failed"
    assert details[UNKNOWN]["attempts"] == 1
    assert details[UNKNOWN]["error_message"].startswith("unknown_symbol")
    assert_counters_match_details(batch, details)


def test_a_throttled_symbol_succeeds_on_retry(dag_runner, yahoo, conn, database_url):
    yahoo.set_scenario({"rate_limit": {"symbols": ["6758.T"]}})
    watcher = lift_scenario_when_retrying(database_url, yahoo, "6758.T")

    run = run_bulk(dag_runner, yahoo, ["7203.T", "6758.T"])

    watcher.join(timeout=5)
    assert run.task_states("fetch_prices") == ["success", "success"]
    assert run.tries("fetch_prices") == [1, 2]
    batch = batch_of(conn, run.run_id)
    details = details_of(conn, batch["id"])
    assert details["6758.T"]["status"] == "success"
    assert details["6758.T"]["attempts"] == 2
    assert details["6758.T"]["error_message"] is None
    assert stored_bars(conn, "6758.T") == SESSIONS_IN_WINDOW
    assert (batch["status"], batch["successful"], batch["failed"]) == (
        "completed",
        2,
        0,
    )


def test_grouped_mode_records_each_stock_and_retries_only_the_open_ones(
    dag_runner, yahoo, conn, database_url
):
    symbols = ["7203.T", "6758.T", "9984.T", UNKNOWN, "8306.T"]
    yahoo.set_scenario({"rate_limit": {"symbols": ["6758.T"]}})
    watcher = lift_scenario_when_retrying(database_url, yahoo, "6758.T")

    run = run_bulk(dag_runner, yahoo, symbols, symbols_per_task=2)

    watcher.join(timeout=5)
    # Groups: [7203.T 6758.T] retried once; [9984.T 9999.T] fails for good; [8306.T].
    assert run.task_states("fetch_prices") == ["success", "failed", "success"]
    assert run.tries("fetch_prices") == [2, 1, 1]
    batch = batch_of(conn, run.run_id)
    details = details_of(conn, batch["id"])
    assert_counters_match_details(batch, details)
    assert (batch["status"], batch["successful"], batch["failed"]) == (
        "completed",
        4,
        1,
    )
    # The retry fetched only the stock that was still open.
    assert details["7203.T"]["attempts"] == 1
    assert details["6758.T"]["attempts"] == 2
    assert details[UNKNOWN]["error_message"].startswith("unknown_symbol")
    assert details["9984.T"]["status"] == "success"
    labels = [t["rendered_map_index"] for t in run.tasks if t["map_index"] >= 0]
    assert labels == ["7203.T … 6758.T (2)", f"9984.T … {UNKNOWN} (2)", "8306.T"]


def test_a_failure_and_a_slow_stock_among_ten(dag_runner, yahoo, conn):
    # Case A3: the 3rd stock raises, the 7th is slow; the batch closes last.
    symbols = [
        "7203.T",
        "6758.T",
        UNKNOWN,
        "9984.T",
        "8306.T",
        "4502.T",
        "7267.T",
        "7751.T",
        "8316.T",
        "8411.T",
    ]
    yahoo.set_scenario({"delay": {"7267.T": 3}})

    run = run_bulk(dag_runner, yahoo, symbols)

    states = run.task_states("fetch_prices")
    assert states == ["success"] * 2 + ["failed"] + ["success"] * 7
    batch = batch_of(conn, run.run_id)
    details = details_of(conn, batch["id"])
    assert [s for s, d in details.items() if d["status"] == "failed"] == [UNKNOWN]
    assert (batch["status"], batch["successful"], batch["failed"]) == (
        "completed",
        9,
        1,
    )
    assert_counters_match_details(batch, details)
    assert batch["end_time"] >= max(d["end_time"] for d in details.values())


# Case A5 (and A2): the DAG's own schema refuses these when triggered directly.
@pytest.mark.parametrize(("conf", "param"), MALFORMED_REQUESTS, ids=MALFORMED_IDS)
def test_the_param_schema_refuses_a_malformed_conf(dag_runner, conn, conf, param):
    with pytest.raises(DagTestError, match=f"Invalid input for param {param}"):
        dag_runner.run("bulk_fetch", conf)

    assert conn.execute("SELECT count(*) FROM batch_executions").fetchone()[0] == 0


def test_a_request_the_schema_allows_but_yahoo_cannot_serve_fails_the_run(
    dag_runner, conn
):
    conf = {"symbols": ["7203.T"], "interval": "1m", "period": "1mo"}

    run = dag_runner.run("bulk_fetch", conf)

    assert run.state == "failed"
    assert run.task_states("prepare_batch") == ["failed"]
    assert run.tries("prepare_batch") == [1]
    assert conn.execute("SELECT count(*) FROM batch_executions").fetchone()[0] == 0


def test_a_callers_batch_is_used_and_closed(dag_runner, yahoo, conn):
    from kabuflow.batches import BatchService

    batch_id = BatchService().create_batch("bulk_fetch", symbols=["7203.T", UNKNOWN])

    run = run_bulk(dag_runner, yahoo, ["7203", UNKNOWN], batch_id=batch_id)

    assert conn.execute("SELECT count(*) FROM batch_executions").fetchone()[0] == 1
    row = conn.execute(
        "SELECT status, successful_stocks, failed_stocks FROM batch_executions"
    ).fetchone()
    assert row == ("completed", 1, 1)
    assert run.state == "success"


def test_an_invalid_request_fails_the_callers_batch(dag_runner, conn):
    from kabuflow.batches import BatchService

    batch_id = BatchService().create_batch("bulk_fetch", symbols=["7203.T"])
    conf = {
        "symbols": ["7203.T"],
        "interval": "15m",
        "period": "6mo",
        "batch_id": batch_id,
    }

    run = dag_runner.run("bulk_fetch", conf)

    assert run.task_states("prepare_batch") == ["failed"]
    status, message = conn.execute(
        "SELECT status, error_message FROM batch_executions"
    ).fetchone()
    assert status == "failed"
    assert "Yahoo serves 15m bars only for the last 60 days" in message
    detail = conn.execute(
        "SELECT status, error_message FROM batch_execution_details"
    ).fetchone()
    assert detail[0] == "failed"


def test_daily_run_with_an_empty_universe_closes_an_empty_batch(dag_runner, conn):
    # Case A2: nothing to fetch still gives a completed batch of 0 stocks.
    run = dag_runner.run("daily_fetch", logical_date="2022-09-16T08:00:00+00:00")

    assert run.state == "success"
    assert run.task_states("fetch_prices") == ["skipped"]
    assert run.task_states("finalize_batch") == ["success"]
    batch = batch_of(conn, run.run_id)
    assert (batch["type"], batch["status"], batch["total"]) == (
        "all_stocks",
        "completed",
        0,
    )


def test_daily_run_on_a_holiday_does_nothing(dag_runner, conn):
    # 2022-09-19 (a Monday) was Respect for the Aged Day.
    run = dag_runner.run("daily_fetch", logical_date="2022-09-19T08:00:00+00:00")

    assert run.task_states("check_session") == ["success"]
    assert run.task_states("prepare_batch") == ["skipped"]
    assert run.task_states("finalize_batch") == ["skipped"]
    assert conn.execute("SELECT count(*) FROM batch_executions").fetchone()[0] == 0


def test_daily_run_fetches_only_what_each_stock_lacks(
    dag_runner, yahoo, conn, tmp_path
):
    from kabuflow.pipeline import fetch_symbol
    from kabuflow.source import YahooSource
    from kabuflow.stock_master import COLUMNS, refresh_stock_master
    from kabuflow.store import PriceStore

    listed = tmp_path / "listed.csv"
    rows = [
        "20220916,7203,トヨタ自動車,プライム（内国株式）,3700,輸送用機器,6,自動車,1,Core30",
        "20220916,6758,ソニー,プライム（内国株式）,3650,電気機器,5,電機・精密,1,Core30",
        "20220916,1306,ＴＯＰＩＸ連動型上場投信,ETF・ETN,-,-,-,-,-,-",
    ]
    listed.write_text("\n".join([",".join(COLUMNS), *rows]) + "\n", encoding="utf-8")
    refresh_stock_master(str(listed))
    with YahooSource(base_url=yahoo.url) as source:
        stored = fetch_symbol(
            "7203.T",
            FetchWindow.parse("1d", start="2022-08-01", end="2022-09-10"),
            source=source,
            store=PriceStore(),
        )

    run = dag_runner.run(
        "daily_fetch",
        logical_date="2022-09-16T08:00:00+00:00",
        env={"KABUFLOW_YAHOO_URL": yahoo.url},
    )

    assert stored.inserted == 29
    assert run.task_states("fetch_prices") == ["success", "success"]
    batch = batch_of(conn, run.run_id)
    details = details_of(conn, batch["id"])
    assert (batch["type"], batch["status"], batch["total"]) == (
        "all_stocks",
        "completed",
        2,
    )
    assert set(details) == {"7203.T", "6758.T"}, "the ETF is not in the universe"
    # Toyota: from its third-last stored session (09-07) on, so 5 new sessions.
    assert details["7203.T"]["inserted"] == 5
    assert stored_bars(conn, "7203.T") == 29 + 5
    # Sony had nothing stored: a year of history.
    assert details["6758.T"]["inserted"] == stored_bars(conn, "6758.T") > 240


def test_the_stock_master_refresh_dag_loads_a_list(dag_runner, conn):
    run = dag_runner.run("stock_master_refresh", {"source": None})

    assert run.task_states("load_listed_issues") == ["success"]
    assert conn.execute("SELECT count(*) FROM stock_master").fetchone()[0] == 4354
    update = conn.execute("SELECT status, added FROM stock_master_updates").fetchone()
    assert update == ("completed", 4354)


def test_without_phase2_the_run_fetches_and_writes_no_batch(dag_runner, yahoo, conn):
    conf = {"symbols": ["7203.T", "6758.T"], **WINDOW, "symbols_per_task": 2}

    run = dag_runner.run(
        "bulk_fetch",
        conf,
        env={"KABUFLOW_YAHOO_URL": yahoo.url, "ENABLE_PHASE2": "false"},
    )

    assert run.state == "success"
    assert run.task_states("fetch_prices") == ["success"]
    assert conn.execute("SELECT count(*) FROM batch_executions").fetchone()[0] == 0
    assert stored_bars(conn, "6758.T") == SESSIONS_IN_WINDOW
