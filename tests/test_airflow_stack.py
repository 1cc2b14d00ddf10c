"""The local Airflow stack: configuration, secrets and processes, then the real one.

Tests marked `airflow` share one real stack per session (`tests/airflow_fixtures.py`)
and run in file order: the last one stops it and proves nothing is left.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from datetime import datetime

import httpx
import psutil
import psycopg
import pytest
import sqlalchemy
from airflow_fixtures import (
    TEST_AIRFLOW_DATABASE_URL,
    drop_database,
    wait_for,
    wait_for_dag,
    wait_for_run,
)

from kabuflow.airflow_client import AirflowClient
from kabuflow.errors import AirflowAuthError, AirflowUnavailableError, StackError
from kabuflow.settings import SettingsError
from kabuflow.stack import YAHOO_POOL, StackConfig
from kabuflow.stack.config import (
    ENV_TEMPLATE,
    IDLE_IN_TRANSACTION_TIMEOUT,
    airflow_connection_url,
    format_env_file,
    render_env,
    template_values,
)
from kabuflow.stack.credentials import ensure_passwords, load_or_create_secrets
from kabuflow.stack.database import ensure_database, libpq_url
from kabuflow.stack.processes import ManagedProcess, session_members, stop_all

log = logging.getLogger(__name__)

MAP_DAG = "kabuflow_test_map"
WIDE_DAG = "kabuflow_test_wide_map"
SECRETS = {"jwt_secret": "j" * 40, "api_secret_key": "k" * 40, "fernet_key": "f" * 44}
UNFINISHED = {"running", "queued", "scheduled", "up_for_retry", "restarting", None}


def _rendered(config: StackConfig) -> dict[str, str]:
    template = ENV_TEMPLATE.read_text(encoding="utf-8")
    return render_env(template, template_values(config, SECRETS))


def _run_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_template_renders_the_settings_the_design_asks_for(tmp_path):
    config = StackConfig(
        home=tmp_path,
        api_port=18123,
        app_database_url="postgresql://postgres@127.0.0.1:5432/app_db",
    )

    env = _rendered(config)

    assert not [key for key, value in env.items() if "$" in value]
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://127.0.0.1:18123/execution/"
    )
    assert int(env["AIRFLOW__CORE__MAX_MAP_LENGTH"]) > 5000
    assert int(env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"]) <= 10
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == SECRETS["jwt_secret"]
    assert env["AIRFLOW_CONN_KABUFLOW_DB"] == config.app_database_url
    assert env["KABUFLOW_DATABASE_URL"] == config.app_database_url
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(
        tmp_path / "passwords.json"
    )


def test_airflow_sessions_end_a_transaction_left_idle(tmp_path):
    """Airflow's processes connect with PostgreSQL's idle-in-transaction timeout, so a
    scheduler killed mid-transaction cannot keep its dag_run row locks for good."""
    server = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    env = _rendered(StackConfig(home=tmp_path, metadata_database_url=server))
    engine = sqlalchemy.create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as conn:
            shown = conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout")
            assert IDLE_IN_TRANSACTION_TIMEOUT == "120s"
            assert shown.scalar() == "2min"  # PostgreSQL's spelling of 120 s
    finally:
        engine.dispose()


def test_a_metadata_url_with_its_own_options_is_left_alone():
    url = "postgresql+psycopg://u@h/airflow?sslmode=require&options=-c%20x%3D1"
    assert airflow_connection_url(url) == url
    with_ssl = airflow_connection_url(
        "postgresql+psycopg://u@h/airflow?sslmode=require"
    )
    assert with_ssl.startswith(
        "postgresql+psycopg://u@h/airflow?sslmode=require&options="
    )


def test_a_placeholder_without_value_is_named():
    with pytest.raises(StackError, match="MISSING_THING"):
        render_env("A=1\nB=${MISSING_THING}\n", {})


def test_written_env_file_reads_back_through_a_shell(tmp_path):
    values = {"PLAIN": "abc", "SPACES": "a b  c", "DOLLAR": "p$w'd\"x", "EMPTY": ""}
    env_file = tmp_path / "airflow.env"
    env_file.write_text(format_env_file(values), encoding="utf-8")

    script = f"set -a; . {env_file}; set +a; env -0"
    shell = subprocess.run(
        ["bash", "-c", script], env={}, capture_output=True, check=True
    )

    seen = dict(
        item.split("=", 1) for item in shell.stdout.decode().split("\0") if "=" in item
    )
    assert {key: seen[key] for key in values} == values


def test_config_from_env_reads_overrides_and_names_a_bad_value(tmp_path):
    config = StackConfig.from_env(
        {
            "KABUFLOW_AIRFLOW_HOME": str(tmp_path),
            "KABUFLOW_AIRFLOW_PORT": "18999",
            "KABUFLOW_YAHOO_POOL_SLOTS": "3",
            "KABUFLOW_MAX_SYMBOLS": "20000",
        }
    )

    assert (config.home, config.api_url) == (tmp_path, "http://127.0.0.1:18999")
    assert config.yahoo_pool_slots == 3
    assert config.max_map_length >= 20000
    with pytest.raises(SettingsError, match="KABUFLOW_AIRFLOW_PORT"):
        StackConfig.from_env({"KABUFLOW_AIRFLOW_PORT": "eighty"})


def test_secrets_and_passwords_are_made_once_and_kept_private(tmp_path):
    first = load_or_create_secrets(tmp_path)
    again = load_or_create_secrets(tmp_path)
    passwords_file = tmp_path / "passwords.json"
    passwords_file.write_text('{"admin": "chosen-by-hand"}', encoding="utf-8")

    passwords = ensure_passwords(passwords_file, ["admin", "kabuflow"])

    assert first == again and len(set(first.values())) == 3
    assert passwords["admin"] == "chosen-by-hand"
    assert len(passwords["kabuflow"]) >= 20
    assert ensure_passwords(passwords_file, ["admin", "kabuflow"]) == passwords
    for path in (tmp_path / "secrets.json", passwords_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_metadata_database_is_created_only_when_missing():
    probe_url = TEST_AIRFLOW_DATABASE_URL + "_probe"
    drop_database(probe_url)
    try:
        assert ensure_database(probe_url) is True
        assert ensure_database(probe_url) is False
        with psycopg.connect(libpq_url(probe_url)) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        drop_database(probe_url)


# A leader whose child moves to its own process group and ignores SIGTERM, as
# Airflow's task processes do; with "orphan" the leader exits and leaves the child.
FAMILY = """
import os, signal, sys, time
child = os.fork()
if child == 0:
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(300)
    os._exit(0)
print(child, flush=True)
if sys.argv[1] == "orphan":
    os._exit(0)
time.sleep(300)
"""


def _start_family(tmp_path, mode: str) -> tuple[ManagedProcess, int]:
    managed = ManagedProcess(
        f"family-{mode}", [sys.executable, "-c", FAMILY, mode], tmp_path, tmp_path
    )
    managed.start(os.environ, cwd=tmp_path)
    child = wait_for(lambda: managed.log_tail(1).strip(), 10, "the child pid", 0.1)
    return managed, int(child)


@pytest.mark.parametrize("mode", ["stay", "orphan"])
def test_stop_all_ends_children_that_left_the_group(tmp_path, mode):
    managed, child = _start_family(tmp_path, mode)
    session = managed.session_id()
    assert os.getpgid(child) == child != session
    assert os.getsid(child) == session

    stopped = stop_all([managed], grace=1.0)

    assert child in stopped
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
    assert session_members([session]) == []
    assert not managed.pid_file.exists()


def test_a_process_started_again_after_sigkill_leaves_no_orphan_behind(tmp_path):
    managed, first_child = _start_family(tmp_path, "stay")
    first_session = managed.session_id()
    os.kill(first_session, signal.SIGKILL)
    wait_for(lambda: managed.process() is None, 10, "the leader to die", 0.1)

    managed.start(os.environ, cwd=tmp_path)
    second_child = int(
        wait_for(lambda: _new_child(managed, first_child), 10, "a second child", 0.1)
    )
    sessions = managed.session_ids()
    assert sessions == [first_session, managed.session_id()]

    stopped = stop_all([managed], grace=1.0)

    assert {first_child, second_child} <= set(stopped)
    assert session_members(sessions) == []
    assert not managed.former_file.exists()


def _new_child(managed: ManagedProcess, old: int) -> str | None:
    last = managed.log_tail(1).strip()
    return last if last and int(last) != old else None


def test_a_reused_pid_is_not_taken_for_ours(tmp_path):
    managed = ManagedProcess("stranger", ["true"], tmp_path, tmp_path)
    # Our own pid, with a start time that is not ours: a recycled pid.
    managed.pid_file.write_text(f"{os.getpid()} 12345.0\n", encoding="ascii")

    assert managed.process() is None
    assert managed.session_id() is None


# --- the real stack ------------------------------------------------------------------


@pytest.mark.airflow
def test_stack_is_healthy_with_three_processes(airflow_stack, record_property):
    status = airflow_stack.status()

    assert status.healthy, status.health
    assert [c.name for c in status.components] == [
        "api-server",
        "scheduler",
        "dag-processor",
    ]
    for component in status.components:
        log.info(
            "%s: %d process(es), RSS %.0f MiB, PSS %.0f MiB",
            component.name,
            component.processes,
            component.rss_bytes / 2**20,
            component.pss_bytes / 2**20,
        )
        record_property(f"{component.name}_pss_mib", component.pss_bytes // 2**20)
    log.info("time to healthy: %.1f s", airflow_stack.ready_seconds)
    record_property("ready_seconds", airflow_stack.ready_seconds)


@pytest.mark.airflow
def test_yahoo_pool_exists_with_its_slots(airflow_stack, airflow_client):
    pool = airflow_client.get_pool(YAHOO_POOL)

    assert pool["slots"] == airflow_stack.config.yahoo_pool_slots


@pytest.mark.airflow
def test_service_user_gets_a_token_and_a_wrong_password_does_not(airflow_stack):
    api_url = airflow_stack.config.api_url
    password = airflow_stack.passwords()["kabuflow"]

    answer = httpx.post(
        f"{api_url}/auth/token",
        json={"username": "kabuflow", "password": password},
        timeout=10,
    )

    assert answer.status_code == 201
    assert answer.json()["access_token"].count(".") == 2
    with airflow_stack.client() as good:
        assert good.get_pool(YAHOO_POOL)["name"] == YAHOO_POOL
    with AirflowClient(api_url, "kabuflow", password + "x") as wrong:
        with pytest.raises(AirflowAuthError):
            wrong.get_pool(YAHOO_POOL)


@pytest.mark.airflow
def test_test_dags_show_up_unpaused(airflow_client):
    for dag_id in (MAP_DAG, WIDE_DAG):
        assert wait_for_dag(airflow_client, dag_id)["is_paused"] is False


@pytest.mark.airflow
def test_mapped_run_succeeds_with_one_instance_per_item(airflow_client):
    items = ["7203.T", "6758.T", "AAPL", "130A.T", "USDJPY=X", "9984.T"]
    run_id = _run_id("mapped")
    wait_for_dag(airflow_client, MAP_DAG)

    airflow_client.trigger_dag_run(MAP_DAG, run_id, {"items": items, "seconds": 0})
    run = wait_for_run(airflow_client, MAP_DAG, run_id, timeout=240)
    instances = airflow_client.list_task_instances(MAP_DAG, run_id)

    assert run["state"] == "success"
    mapped = sorted(
        (ti for ti in instances if ti["task_id"] == "echo_item"),
        key=lambda ti: ti["map_index"],
    )
    assert [ti["map_index"] for ti in mapped] == list(range(len(items)))
    assert [ti["rendered_map_index"] for ti in mapped] == items
    assert {ti["state"] for ti in instances} == {"success"}
    assert {ti["pool"] for ti in mapped} == {YAHOO_POOL}
    _log_overhead(run, mapped)


def _log_overhead(run: dict, mapped: list[dict]) -> None:
    wall = _seconds(run["start_date"], run["end_date"])
    busy = sum(ti["duration"] or 0 for ti in mapped)
    log.info(
        "%d mapped instances of a no-work task: run %.1f s wall, %.2f s per instance "
        "of task time (start to end, in its own process)",
        len(mapped),
        wall,
        busy / len(mapped),
    )


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@pytest.mark.airflow
def test_failing_a_running_run_ends_its_tasks_and_their_processes(
    airflow_stack, airflow_client
):
    items = [f"S{i}" for i in range(8)]
    run_id = _run_id("stopped")
    wait_for_dag(airflow_client, MAP_DAG)
    airflow_client.trigger_dag_run(MAP_DAG, run_id, {"items": items, "seconds": 300})

    def running() -> list[dict]:
        instances = airflow_client.list_task_instances(MAP_DAG, run_id)
        mapped = [ti for ti in instances if ti["task_id"] == "echo_item"]
        return [ti for ti in mapped if ti["state"] == "running"]

    wait_for(running, 180, "a mapped instance to run")
    wait_for(_task_processes(airflow_stack), 60, "a task process to appear")
    stopped_at = time.monotonic()
    airflow_client.set_dag_run_state(MAP_DAG, run_id, "failed")

    def ended() -> list[dict] | None:
        instances = airflow_client.list_task_instances(MAP_DAG, run_id)
        mapped = [ti for ti in instances if ti["task_id"] == "echo_item"]
        return None if {ti["state"] for ti in mapped} & UNFINISHED else mapped

    mapped = wait_for(ended, 60, "every mapped instance to end")
    ended_after = time.monotonic() - stopped_at
    wait_for(lambda: not _task_processes(airflow_stack)(), 90, "task processes to exit")
    exited_after = time.monotonic() - stopped_at
    time.sleep(5)  # a run that comes back to life would do so within a heartbeat

    assert airflow_client.get_dag_run(MAP_DAG, run_id)["state"] == "failed"
    assert len(mapped) == len(items)
    assert "success" not in {ti["state"] for ti in mapped}
    assert not {ti["state"] for ti in mapped} & UNFINISHED
    log.info(
        "stop: instances final %.1f s, task processes gone %.1f s after the PATCH",
        ended_after,
        exited_after,
    )


def _task_processes(stack):
    """Return a probe listing the scheduler's task processes (own process groups)."""
    scheduler_session = stack.session_ids()["scheduler"]

    def probe() -> list[psutil.Process]:
        members = session_members([scheduler_session])
        return [p for p in members if os.getpgid(p.pid) == p.pid != scheduler_session]

    return probe


@pytest.mark.airflow
def test_a_map_longer_than_airflows_default_limit_succeeds(airflow_client):
    items = [f"{code}.T" for code in range(1300, 2400)]
    run_id = _run_id("wide")
    wait_for_dag(airflow_client, WIDE_DAG)

    airflow_client.trigger_dag_run(WIDE_DAG, run_id, {"items": items})
    run = wait_for_run(airflow_client, WIDE_DAG, run_id, timeout=300)
    instances = airflow_client.list_task_instances(WIDE_DAG, run_id)

    assert run["state"] == "success"
    mapped = [ti for ti in instances if ti["task_id"] == "skip_item"]
    assert sorted(ti["map_index"] for ti in mapped) == list(range(1100))
    assert {ti["state"] for ti in instances} == {"success"}
    assert len(instances) == 1101  # read through 12 pages of 100


@pytest.mark.airflow
def test_down_leaves_no_process_behind(airflow_stack, airflow_client):
    sessions = list(airflow_stack.session_ids().values())
    assert len(sessions) == 3 and session_members(sessions)

    airflow_stack.down()

    listing = subprocess.run(
        ["ps", "-e", "-o", "pid=,sid=,args="],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    left = [line for line in listing if int(line.split()[1]) in sessions]
    assert left == []
    assert [c.pid for c in airflow_stack.status().components] == [None] * 3
    with pytest.raises(AirflowUnavailableError):
        airflow_client.health()
