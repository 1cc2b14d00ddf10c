"""Bring up what the demo needs, reusing what already runs, and stop all of it.

The replay server and the API run as `ManagedProcess`es (pid files in
`<home>/demo/run`, logs in `<home>/demo/logs`); Airflow is the local `AirflowStack`.
Each leads a session of its own, so `down` also finds their forked children.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from kabuflow import migrations
from kabuflow.airflow_client import AirflowClient
from kabuflow.demo.config import DemoConfig
from kabuflow.errors import AirflowNotFoundError, KabuflowError
from kabuflow.stack import AirflowStack
from kabuflow.stack.config import ADMIN_USER, REPO_ROOT
from kabuflow.stack.credentials import write_private
from kabuflow.stack.database import ensure_database
from kabuflow.stack.processes import ManagedProcess, stop_all
from kabuflow.stock_master import RefreshResult, refresh_stock_master

log = logging.getLogger(__name__)

BULK_DAG = "bulk_fetch"
# Scheduled DAGs the demo pauses on a fresh stack: left running overnight, the daily
# run would fetch the whole universe from a replay server that holds 300 symbols.
PAUSED_IN_DEMO = ("daily_fetch",)
START_TIMEOUT = 60.0
DAG_PARSE_TIMEOUT = 180.0
STOP_GRACE = 10.0
POLL_INTERVAL = 0.3


class DemoError(KabuflowError):
    """The demo cannot go on; the message says what to do."""


class DemoServices:
    """The demo's processes: replay server, Airflow stack and API."""

    def __init__(self, config: DemoConfig, say: Callable[[str], None] = print):
        self.config = config
        self.say = say
        self.stack = AirflowStack(config.stack)
        run_dir, log_dir = config.run_dir, config.log_dir
        self.replay = ManagedProcess("replay", _replay_argv(config), run_dir, log_dir)
        self.api = ManagedProcess("api", _api_argv(config), run_dir, log_dir)

    def prepare_database(self) -> RefreshResult:
        """Create and migrate the app database; load the bundled stock master."""
        created = ensure_database(self.config.database_url)
        applied = migrations.upgrade(self.config.database_url)
        self.say(
            f"app database {'created' if created else 'ready'}, "
            f"{len(applied)} migration(s) applied"
        )
        result = refresh_stock_master(database_url=self.config.database_url)
        self.say(
            f"stock master: {result.total_issues} listed issues of "
            f"{result.list_date} ({result.added} added, {result.changed} changed)"
        )
        return result

    def start_replay(self) -> str:
        """Start the replay server unless ours answers; return its URL."""
        url = self.config.replay_url
        self._start_unless_up(
            self.replay, self.config.replay_port, url + "/__replay/health", os.environ
        )
        self.say(f"replay server on {url} (log {shown_path(self.replay.log_file)})")
        return url

    def start_airflow(self) -> None:
        """Start the Airflow stack unless it is up with the same Yahoo setting."""
        self._check_stack_mode()
        fresh = not self.stack.status().healthy
        if fresh:
            self.say("starting Airflow (about a minute the first time)...")
        status = self.stack.up()
        self._ready_dags(pause_scheduled=fresh)
        took = f", healthy in {self.stack.ready_seconds:.0f} s" if fresh else ""
        self.say(
            f"Airflow on {status.api_url}{took} (logs {shown_path(self.stack_logs)})"
        )

    def start_api(self) -> str:
        """Start the API under gunicorn unless ours answers; return its URL."""
        url = self.config.api_url
        port = int(self.config.api_bind.rpartition(":")[2])
        self._start_unless_up(self.api, port, url + "/api/health", self._api_env())
        self.say(f"API on {url} (log {shown_path(self.api.log_file)})")
        return url

    def down(self) -> list[int]:
        """Stop the API, Airflow and the replay server; return the pids stopped."""
        stopped = stop_all([self.api], STOP_GRACE)
        stopped += self.stack.down()
        stopped += stop_all([self.replay], STOP_GRACE)
        return stopped

    def session_ids(self) -> dict[str, int]:
        """Return the session id of every demo process that was started."""
        sessions = dict(self.stack.session_ids())
        for managed in (self.replay, self.api):
            if (sid := managed.session_id()) is not None:
                sessions[managed.name] = sid
        return sessions

    @property
    def stack_logs(self) -> Path:
        return self.config.stack.home / "logs"

    def api_key(self) -> str:
        """Return the key the demo's API accepts, generating it on first use."""
        configured = os.environ.get("KABUFLOW_API_KEYS", "").split(",")[0].strip()
        if configured:
            return configured
        path = self.config.api_key_file
        if not path.exists() or not path.read_text(encoding="ascii").strip():
            write_private(path, secrets.token_urlsafe(32) + "\n")
        return path.read_text(encoding="ascii").strip()

    def admin_password(self) -> str:
        """Return the Airflow UI password of the `admin` user."""
        return self.stack.passwords()[ADMIN_USER]

    def _start_unless_up(
        self, managed: ManagedProcess, port: int, health_url: str, env: Mapping
    ) -> None:
        if managed.process() is not None:
            if _answers(health_url):
                return
            log.warning("%s runs but does not answer: restarting it", managed.name)
            stop_all([managed], STOP_GRACE)
        if not _port_free(port):
            raise DemoError(
                f"port {port} is in use by another program: stop it, or give the "
                f"{managed.name} another port (see README, Configuration)"
            )
        managed.start(env, cwd=REPO_ROOT)
        self._wait_answer(managed, health_url)

    def _wait_answer(self, managed: ManagedProcess, health_url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(health_url):
            if managed.process() is None or time.monotonic() > deadline:
                tail = managed.log_tail(15)
                stop_all([managed], STOP_GRACE)
                raise DemoError(
                    f"{managed.name} did not start; end of {managed.log_file}:\n{tail}"
                )
            time.sleep(POLL_INTERVAL)

    def _api_env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.stack.client_env(),
            "KABUFLOW_DATABASE_URL": self.config.database_url,
            "KABUFLOW_API_KEYS": os.environ.get("KABUFLOW_API_KEYS") or self.api_key(),
            "KABUFLOW_API_BIND": self.config.api_bind,
            "KABUFLOW_API_ACCESS_LOG": str(self.config.log_dir / "api-access.log"),
        }

    def _check_stack_mode(self) -> None:
        if not self.stack.status().healthy:
            return
        running = _env_file_value(self.config.stack.env_file, "KABUFLOW_YAHOO_URL")
        if running is None:
            raise DemoError(
                "Airflow already runs with settings the demo did not write (started "
                "by `make airflow-up`?): run `make down` first"
            )
        if running != self.config.yahoo_url:
            source = running or "the real Yahoo Finance"
            raise DemoError(
                f"Airflow already runs, fetching from {source}: run `make down` "
                "first to switch between the replay server and live Yahoo"
            )

    def _ready_dags(self, pause_scheduled: bool) -> None:
        with self.stack.client(ADMIN_USER) as admin:
            dag = _wait_parsed(admin, BULK_DAG)
            if dag["is_paused"]:
                admin.unpause_dag(BULK_DAG)
            if not pause_scheduled:
                return
            for dag_id in PAUSED_IN_DEMO:
                _wait_parsed(admin, dag_id)
                admin.pause_dag(dag_id)
                self.say(f"paused {dag_id} (scheduled): unpause it in the UI to use it")


def _replay_argv(config: DemoConfig) -> list[str]:
    port = str(config.replay_port)
    return [sys.executable, "-m", "kabuflow.cli", "replay", "serve", "--port", port]


def _api_argv(config: DemoConfig) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(REPO_ROOT / "api" / "gunicorn_conf.py"),
        "--chdir",
        str(REPO_ROOT),
        "api.wsgi:app",
    ]


def _wait_parsed(client: AirflowClient, dag_id: str) -> dict:
    deadline = time.monotonic() + DAG_PARSE_TIMEOUT
    while True:
        try:
            return client.get_dag(dag_id)
        except AirflowNotFoundError:
            if time.monotonic() > deadline:
                raise DemoError(
                    f"Airflow has not parsed {dag_id} after {DAG_PARSE_TIMEOUT:.0f} s: "
                    "see the dag-processor log"
                ) from None
            time.sleep(1.0)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _env_file_value(path: Path, key: str) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        name, sep, value = line.partition("=")
        if sep and name == key:
            return " ".join(shlex.split(value))
    return None


def shown_path(path: Path) -> str:
    """Return `path` relative to the repository when it lies inside it."""
    return (
        str(path.relative_to(REPO_ROOT))
        if path.is_relative_to(REPO_ROOT)
        else str(path)
    )
