"""A real Airflow stack for the tests marked `airflow`, started once per test session.

Register in `tests/conftest.py` with `pytest_plugins = ["airflow_fixtures"]`.

The stack runs on free ports, with its home in a temporary directory, over a dags
folder that links the files `airflow_dag_files` lists (the test-only DAGs of
`tests/airflow_dags/` and `dags/bulk_fetch.py`), against a metadata database emptied
at the start of the session (`KABUFLOW_TEST_AIRFLOW_DATABASE_URL`) and the session's
migrated app database. DAGs start unpaused, so a scheduled DAG linked here runs on its
own: link only what the tests drive (`daily_fetch` is left out for that reason).

Every task fetches from the session's replay server (`airflow_replay`), never Yahoo:
it serves the project's sample and, when the shared data is on the machine, the whole
recorded universe of 3,768 Tokyo symbols (`KABUFLOW_UNIVERSE_PARQUET`), so tests can run
batches larger than the 300 sample symbols. Retries wait about a second.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kabuflow.airflow_client import AirflowClient
from kabuflow.errors import AirflowNotFoundError
from kabuflow.replay import ReplayServer
from kabuflow.replay.server import SAMPLE_SOURCES, recorded_universe
from kabuflow.stack import AirflowStack, StackConfig
from kabuflow.stack.database import database_name, maintenance_url

TEST_AIRFLOW_DATABASE_URL = os.environ.get(
    "KABUFLOW_TEST_AIRFLOW_DATABASE_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/kabuflow_test_airflow",
)
REPO = Path(__file__).resolve().parents[1]
TEST_DAGS = REPO / "tests" / "airflow_dags"
PRODUCT_DAGS = (REPO / "dags" / "bulk_fetch.py",)
# The recorded universe (1.8 M daily bars); optional: tests that need it skip without.
TEST_UNIVERSE = recorded_universe()
FINAL_RUN_STATES = {"success", "failed"}


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def drop_database(url: str) -> None:
    """Drop the database named in `url`, disconnecting its sessions first."""
    name = database_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


def link_dags(target: Path, dag_files: list[Path]) -> Path:
    """Fill `target` with links to `dag_files`; return it."""
    target.mkdir(parents=True, exist_ok=True)
    for dag_file in dag_files:
        (target / dag_file.name).symlink_to(dag_file.resolve())
    return target


def wait_for(
    probe: Callable[[], Any], timeout: float, what: str, interval: float = 1.0
) -> Any:
    """Call `probe` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_for_dag(client: AirflowClient, dag_id: str, timeout: float = 120) -> dict:
    """Return the DAG once the dag-processor has parsed it."""

    def parsed() -> dict | None:
        try:
            return client.get_dag(dag_id)
        except AirflowNotFoundError:
            return None

    return wait_for(parsed, timeout, f"DAG {dag_id} to be parsed")


def wait_for_run(
    client: AirflowClient, dag_id: str, run_id: str, timeout: float = 300
) -> dict:
    """Return the run once it is `success` or `failed`."""

    def final() -> dict | None:
        run = client.get_dag_run(dag_id, run_id)
        return run if run["state"] in FINAL_RUN_STATES else None

    return wait_for(final, timeout, f"run {run_id} of {dag_id} to end")


@pytest.fixture(scope="session")
def airflow_dag_files() -> list[Path]:
    """The DAG files the session's stack serves: the test-only DAGs and bulk_fetch."""
    return [*sorted(TEST_DAGS.glob("*.py")), *PRODUCT_DAGS]


@pytest.fixture(scope="session")
def airflow_replay() -> Iterator[ReplayServer]:
    """The replay server every task of the session's stack fetches from."""
    sources = list(SAMPLE_SOURCES)
    if TEST_UNIVERSE.exists():
        sources.insert(0, TEST_UNIVERSE)  # the sample's own files win per symbol
    server = ReplayServer(sources)
    with server.running():
        yield server


def universe_symbols(server: ReplayServer, needed: int) -> list[str]:
    """The Tokyo symbols `server` holds, sorted; skip when it holds fewer than `needed`.

    Only the shared universe holds more than the 300 sample symbols.
    """
    symbols = sorted(s for s in server.store.symbols() if s.endswith(".T"))
    if len(symbols) < needed:
        pytest.skip(f"needs {needed} replayed symbols, {TEST_UNIVERSE} is missing")
    return symbols


@pytest.fixture(scope="session")
def airflow_stack_session(
    tmp_path_factory, database_url, airflow_dag_files, airflow_replay
) -> Iterator[AirflowStack]:
    """Start the session's Airflow stack once; stop all of it at the end."""
    drop_database(TEST_AIRFLOW_DATABASE_URL)
    home = tmp_path_factory.mktemp("airflow")
    config = StackConfig(
        home=home,
        dags_folder=link_dags(home / "dags", airflow_dag_files),
        metadata_database_url=TEST_AIRFLOW_DATABASE_URL,
        app_database_url=database_url,
        api_port=free_port(),
        log_server_port=free_port(),
        # Measured on 2 cores: mapped instances go through 1.5 times faster with 8
        # slots than with 4 (the scheduler's loop, not the CPU, paces them); 16 adds
        # nothing more. 8 pre-forked workers take about 1 GiB.
        parallelism=8,
        yahoo_pool_slots=8,
        ready_timeout=240,
        extra_env={
            "KABUFLOW_YAHOO_URL": airflow_replay.url,
            "KABUFLOW_RETRY_DELAY_SECONDS": "1",
        },
    )
    stack = AirflowStack(config)
    stack.up()
    yield stack
    stack.down()


@pytest.fixture
def airflow_stack(airflow_stack_session) -> AirflowStack:
    """The session's running stack, started again if a test stopped it."""
    airflow_stack_session.up()
    return airflow_stack_session


@pytest.fixture
def airflow_client(airflow_stack) -> Iterator[AirflowClient]:
    """A REST client of the session's stack, logged in as the `kabuflow` user."""
    with airflow_stack.client() as client:
        yield client
