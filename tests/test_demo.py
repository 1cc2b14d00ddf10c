"""`make demo` end to end: real processes, its own ports, state folder and databases.

The demo runs twice, non-interactively, as `kabuflow demo --plain`; then
`kabuflow demo down` must leave no process of it behind. About three minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from airflow_fixtures import TEST_AIRFLOW_DATABASE_URL, drop_database, free_port
from testdb import TEST_DATABASE_URL

from kabuflow.demo import DemoConfig
from kabuflow.demo.render import RESULT_PREFIX
from kabuflow.demo.services import DemoServices
from kabuflow.stack.processes import session_members

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parents[1]
DEMO_TIMEOUT = 600
# Variables of a developer's shell that would point the demo elsewhere.
UNSET = (
    "KABUFLOW_AIRFLOW_HOME",
    "KABUFLOW_API_KEYS",
    "KABUFLOW_DEMO_LIVE",
    "KABUFLOW_YAHOO_URL",
    "KABUFLOW_DEMO_SYMBOLS",
    "KABUFLOW_DEMO_SYMBOLS_PER_TASK",
)


@pytest.fixture
def demo_env(tmp_path):
    """The demo's environment: its own home, free ports and fresh databases."""
    app_url = TEST_DATABASE_URL + "_demo"
    metadata_url = TEST_AIRFLOW_DATABASE_URL + "_demo"
    for url in (app_url, metadata_url):
        drop_database(url)
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(
        KABUFLOW_DEMO_HOME=str(tmp_path / "var"),
        KABUFLOW_DATABASE_URL=app_url,
        KABUFLOW_AIRFLOW_DATABASE_URL=metadata_url,
        KABUFLOW_REPLAY_PORT=str(free_port()),
        KABUFLOW_API_BIND=f"127.0.0.1:{free_port()}",
        KABUFLOW_AIRFLOW_PORT=str(free_port()),
        KABUFLOW_AIRFLOW_LOG_SERVER_PORT=str(free_port()),
    )
    yield env
    # Whatever happened, stop everything before the databases go.
    subprocess.run(demo_command("down"), env=env, cwd=REPO, timeout=120)
    for url in (app_url, metadata_url):
        drop_database(url)


def demo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kabuflow.cli", "demo", *args]


def run_demo(env: dict[str, str]) -> tuple[dict, str]:
    """Run the demo to its end; return its result line's object and its output."""
    done = subprocess.run(
        demo_command("--plain"),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [
        line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)
    ]
    assert len(lines) == 1, done.stdout[-3000:]
    return json.loads(lines[0].removeprefix(RESULT_PREFIX)), done.stdout


def batch_facts(url: str, batch_id: int) -> dict:
    with psycopg.connect(url) as conn:
        status = conn.execute(
            "SELECT status FROM batch_executions WHERE id = %s", [batch_id]
        ).fetchone()[0]
        details = conn.execute(
            "SELECT stock_code, status, records_inserted FROM batch_execution_details"
            " WHERE batch_execution_id = %s",
            [batch_id],
        ).fetchall()
        symbols = [symbol for symbol, _, _ in details]
        stored = conn.execute(
            "SELECT count(*) FROM daily_prices WHERE interval = '1d'"
            " AND symbol = ANY(%s)",
            [symbols],
        ).fetchone()[0]
    return {"status": status, "details": details, "stored": stored}


def newest_close(url: str, symbol: str) -> tuple[str, float]:
    with psycopg.connect(url) as conn:
        date, close = conn.execute(
            "SELECT date, close FROM daily_prices WHERE symbol = %s"
            " AND interval = '1d' ORDER BY date DESC LIMIT 1",
            [symbol],
        ).fetchone()
    return date.isoformat(), close


def test_demo_completes_twice_without_duplicates_and_down_leaves_nothing(demo_env):
    app_url = demo_env["KABUFLOW_DATABASE_URL"]

    first, output = run_demo(demo_env)

    assert first["ok"] is True and first["status"] == "completed"
    assert first["symbols"] >= 200
    facts = batch_facts(app_url, first["batch_db_id"])
    assert facts["status"] == "completed"
    assert len(facts["details"]) == first["symbols"]
    assert {status for _, status, _ in facts["details"]} <= {"success", "failed"}
    assert first["successful"] + first["failed"] == first["symbols"]
    assert first["rows_inserted"] == sum(n for _, _, n in facts["details"]) > 0
    assert first["rows_stored"] == facts["stored"] == first["rows_inserted"]
    assert len(first["latest_closes"]) == 5
    for symbol, date, close in first["latest_closes"]:
        assert [date, close] == list(newest_close(app_url, symbol))
        shown = [line for line in output.splitlines() if f" {symbol} " in line]
        assert any(date in line and f"{close:,.1f}" in line for line in shown)

    second, _ = run_demo(demo_env)

    assert second["ok"] is True and second["batch_db_id"] != first["batch_db_id"]
    assert second["symbols"] == first["symbols"]
    assert second["rows_inserted"] == 0
    assert second["rows_stored"] == first["rows_stored"]

    services = DemoServices(DemoConfig.from_env(demo_env))
    sessions = services.session_ids()
    assert set(sessions) == {
        "replay",
        "api",
        "api-server",
        "scheduler",
        "dag-processor",
    }
    assert session_members(sessions.values())

    stop = subprocess.run(
        demo_command("down"), env=demo_env, cwd=REPO, capture_output=True, timeout=120
    )

    assert stop.returncode == 0, stop.stderr
    assert session_members(sessions.values()) == []
