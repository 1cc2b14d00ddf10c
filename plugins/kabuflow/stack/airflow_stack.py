"""Run Airflow's api-server, scheduler and dag-processor locally, and stop them all.

Local development and tests only: LocalExecutor on one machine, the simple auth
manager, secrets in files under the stack's home. `airflow standalone` is not used
because it leaves its children running when stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from kabuflow.airflow_client import AirflowClient
from kabuflow.errors import AirflowApiError, StackError
from kabuflow.stack.config import (
    ADMIN_USER,
    ENV_TEMPLATE,
    REPO_ROOT,
    SERVICE_USER,
    YAHOO_POOL,
    YAHOO_POOL_DESCRIPTION,
    StackConfig,
    format_env_file,
    render_env,
    template_values,
)
from kabuflow.stack.credentials import (
    ensure_passwords,
    load_or_create_secrets,
    write_private,
)
from kabuflow.stack.database import ensure_database
from kabuflow.stack.processes import ManagedProcess, stop_all, tree

log = logging.getLogger(__name__)

COMPONENTS = ("api-server", "scheduler", "dag-processor")
# Warms the task imports in the scheduler (kabuflow.stack.warm).
LOCAL_SETTINGS = REPO_ROOT / "deploy" / "airflow_local_settings.py"
HEALTH_KEYS = ("scheduler", "dag_processor")
MIGRATE_TIMEOUT = 300.0
POLL_INTERVAL = 0.5


@dataclass(frozen=True)
class ComponentStatus:
    """One Airflow process: its pid (None if not running) and its tree's memory.

    `rss_bytes` adds up every process of the tree, so memory shared by forked workers
    is counted once per worker; `pss_bytes` shares it out and is the fairer figure.
    """

    name: str
    pid: int | None
    processes: int = 0
    rss_bytes: int = 0
    pss_bytes: int = 0


@dataclass(frozen=True)
class StackStatus:
    """What `status()` found; `health` is None when the api-server does not answer."""

    api_url: str
    components: tuple[ComponentStatus, ...]
    health: dict[str, Any] | None

    @property
    def running(self) -> bool:
        return all(c.pid is not None for c in self.components)

    @property
    def healthy(self) -> bool:
        return self.running and self.health is not None and _all_healthy(self.health)


class AirflowStack:
    """The three Airflow processes of one `StackConfig`, found again through pid files.

    Each process leads a session of its own; `down` stops every member of those
    sessions, task processes that moved to process groups of their own included.
    """

    def __init__(self, config: StackConfig | None = None):
        self.config = config or StackConfig.from_env()
        # Seconds from starting the processes to a healthy report, at the last start.
        self.ready_seconds: float | None = None
        run_dir, log_dir = self.config.home / "run", self.config.home / "logs"
        self._processes = {
            name: ManagedProcess(
                name, _airflow_argv(name, self.config), run_dir, log_dir
            )
            for name in COMPONENTS
        }

    def session_ids(self) -> dict[str, int]:
        """Return each component's session id (its leader's pid), even once it ended."""
        sessions = {name: m.session_id() for name, m in self._processes.items()}
        return {name: sid for name, sid in sessions.items() if sid is not None}

    def component_sessions(self, name: str) -> list[int]:
        """Return one component's sessions, those a dead process left included."""
        return self._processes[name].session_ids()

    def up(self) -> StackStatus:
        """Start the stack unless it is up; return once it is healthy.

        Creates the metadata database if missing, migrates it, starts the three
        processes, waits for them (`ready_timeout`) and creates the Yahoo pool. On
        any failure it stops what it started and raises `StackError` with log tails.
        """
        current = self.status()
        if current.healthy:
            log.info("Airflow stack already up at %s", current.api_url)
            return current
        if any(c.pid is not None for c in current.components):
            log.warning(
                "Airflow stack partly running: stopping it before a fresh start"
            )
            self.down()

        env = self._prepare()
        self._check_ports_free()
        ensure_database(self.config.metadata_database_url)
        self._migrate(env)
        try:
            self._start(env)
        except BaseException:
            # Never leave half a stack behind, not even on Ctrl-C.
            self.down()
            raise
        return self.status()

    def down(self) -> list[int]:
        """Stop every process of the stack, children included; return their pids.

        Raises `StackError` if a process survives SIGKILL.
        """
        stopped = stop_all(self._processes.values(), self.config.stop_grace)
        log.info("Airflow stack stopped: %d process(es)", len(stopped))
        return stopped

    def start_component(self, name: str) -> int:
        """Start one component again after it died (`scheduler`, ...); return its pid.

        The rest of the stack keeps running; what the dead process left in its
        session (executor workers, tasks) is still ended by `down`. Raises
        `StackError` if the component runs.
        """
        managed = self._processes[name]
        if managed.process() is not None:
            raise StackError(f"{name} is running already")

        pid = managed.start(self._prepare(), cwd=REPO_ROOT)
        log.info("%s started again (pid %d)", name, pid)
        return pid

    def status(self) -> StackStatus:
        """Return which processes run, their memory, and Airflow's health report."""
        components = tuple(
            _component_status(name, managed)
            for name, managed in self._processes.items()
        )
        health = None
        if components[0].pid is not None:
            health = self._health()
        return StackStatus(self.config.api_url, components, health)

    def passwords(self) -> dict[str, str]:
        """Return every user's password, generating them on first use."""
        return ensure_passwords(self.config.passwords_file, [ADMIN_USER, SERVICE_USER])

    def client(self, user: str = SERVICE_USER, timeout: float = 10.0) -> AirflowClient:
        """Return a REST client of this stack, logged in as `user`."""
        password = self.passwords()[user]
        return AirflowClient(self.config.api_url, user, password, timeout=timeout)

    def client_env(self) -> dict[str, str]:
        """Return the settings kabuflow's API needs to drive this stack."""
        return {
            "AIRFLOW_API_URL": self.config.api_url,
            "AIRFLOW_API_USER": SERVICE_USER,
            "AIRFLOW_API_PASSWORD": self.passwords()[SERVICE_USER],
        }

    def log_tail(self, name: str, lines: int = 25) -> str:
        """Return the last lines of one component's log (`api-server`, ...)."""
        return self._processes[name].log_tail(lines)

    def _prepare(self) -> dict[str, str]:
        home = self.config.home
        home.mkdir(parents=True, exist_ok=True)
        values = template_values(self.config, load_or_create_secrets(home))
        rendered = render_env(ENV_TEMPLATE.read_text(encoding="utf-8"), values)
        rendered.update(self.config.extra_env)
        link_local_settings(home / "config")
        write_private(self.config.env_file, format_env_file(rendered))
        write_private(self.config.client_env_file, format_env_file(self.client_env()))
        return {**os.environ, **rendered}

    def _check_ports_free(self) -> None:
        for port in (self.config.api_port, self.config.log_server_port):
            if not _port_free(self.config.api_host, port):
                raise StackError(
                    f"port {port} on {self.config.api_host} is in use: stop what holds "
                    "it or choose another (KABUFLOW_AIRFLOW_PORT, ..._LOG_SERVER_PORT)"
                )

    def _migrate(self, env: dict[str, str]) -> None:
        log_file = self.config.home / "logs" / "db-migrate.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(log_file, "ab") as handle:
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "airflow", "db", "migrate"],
                    env=env,
                    cwd=REPO_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    timeout=MIGRATE_TIMEOUT,
                )
            except subprocess.TimeoutExpired as exc:
                raise StackError(
                    f"airflow db migrate took over {exc.timeout}s"
                ) from exc
        if done.returncode != 0:
            tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
            raise StackError(f"airflow db migrate failed ({log_file}):\n{tail}")
        log.info("metadata database migrated in %.1f s", time.monotonic() - started)

    def _start(self, env: dict[str, str]) -> None:
        started_at = datetime.now(UTC)
        clock = time.monotonic()
        for managed in self._processes.values():
            managed.start(env, cwd=REPO_ROOT)
        self._wait_ready(started_at, clock + self.config.ready_timeout)
        self.ready_seconds = time.monotonic() - clock
        log.info("Airflow healthy %.1f s after start", self.ready_seconds)
        with self.client(ADMIN_USER) as admin:
            pool = admin.ensure_pool(
                YAHOO_POOL, self.config.yahoo_pool_slots, YAHOO_POOL_DESCRIPTION
            )
        log.info("pool %s has %s slots", pool["name"], pool["slots"])

    def _wait_ready(self, started_at: datetime, deadline: float) -> None:
        while True:
            self._raise_if_exited()
            health = self._health()
            if health is not None and _all_healthy(health, since=started_at):
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"Airflow not healthy after {self.config.ready_timeout:.0f} s "
                    f"(health: {health})\n{self._all_tails()}"
                )
            time.sleep(POLL_INTERVAL)

    def _raise_if_exited(self) -> None:
        for name, managed in self._processes.items():
            if managed.process() is None:
                raise StackError(
                    f"{name} exited with code {managed.exit_code()} during start; "
                    f"end of {managed.log_file}:\n{managed.log_tail()}"
                )

    def _health(self) -> dict[str, Any] | None:
        with AirflowClient(self.config.api_url, "", "", timeout=5.0) as anonymous:
            try:
                return anonymous.health()
            except AirflowApiError as exc:
                log.debug("no health report yet: %s", exc)
                return None

    def _all_tails(self) -> str:
        return "\n".join(
            f"--- end of {m.log_file}:\n{m.log_tail(10)}"
            for m in self._processes.values()
        )


def _airflow_argv(name: str, config: StackConfig) -> list[str]:
    argv = [sys.executable, "-m", "airflow", name]
    if name == "api-server":
        argv += ["--host", config.api_host, "--port", str(config.api_port)]
    return argv


def _all_healthy(health: dict[str, Any], since: datetime | None = None) -> bool:
    """Tell whether the database, scheduler and dag-processor report healthy.

    With `since`, a heartbeat older than it does not count: it may come from a stack
    that stopped moments ago on the same metadata database.
    """
    if health.get("metadatabase", {}).get("status") != "healthy":
        return False
    for key in HEALTH_KEYS:
        part = health.get(key) or {}
        if part.get("status") != "healthy":
            return False
        beat = part.get(f"latest_{key}_heartbeat")
        if since is not None and (beat is None or datetime.fromisoformat(beat) < since):
            return False
    return True


def _component_status(name: str, managed: ManagedProcess) -> ComponentStatus:
    proc = managed.process()
    if proc is None:
        return ComponentStatus(name, None)
    members = tree(proc)
    rss = pss = 0
    for member in members:
        try:
            info = member.memory_full_info()
        except psutil.NoSuchProcess:
            continue  # a task ended while we looked
        rss, pss = rss + info.rss, pss + info.pss
    return ComponentStatus(name, proc.pid, len(members), rss, pss)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def link_local_settings(config_dir: Path) -> Path:
    """Link kabuflow's `airflow_local_settings.py` into Airflow's config folder."""
    config_dir.mkdir(parents=True, exist_ok=True)
    link = config_dir / LOCAL_SETTINGS.name
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(LOCAL_SETTINGS)
    return link
