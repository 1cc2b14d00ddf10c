"""Fixtures for the API: an app on the test database, its client, a failing Airflow.

The `live_*` fixtures wire apps to the session's real Airflow stack instead (tests
marked `airflow`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from api_helpers import API_KEY, OTHER_KEY
from fake_airflow import FakeAirflow

from api import create_app
from kabuflow.batches import BatchService
from kabuflow.errors import AirflowNotFoundError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.fixture
def fake_airflow():
    """An Airflow stand-in that answers 500 to every call and records it."""
    with FakeAirflow(status=500) as fake:
        yield fake


@pytest.fixture
def make_app(db, fake_airflow):
    """Return a factory of apps on the clean test database, Airflow being the fake."""

    def make(**overrides):
        config = {
            "TESTING": True,
            "DATABASE_URL": db,
            "ENABLE_PHASE2": True,
            "API_KEYS": (API_KEY, OTHER_KEY),
            "API_ALLOW_NO_KEYS": False,
            "AIRFLOW_API_URL": fake_airflow.url,
            "AIRFLOW_API_USER": "kabuflow",
            "AIRFLOW_API_PASSWORD": "test-password",
            "AIRFLOW_TIMEOUT": 5.0,
        }
        config.update(overrides)
        return create_app(config)

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def batches(db):
    """The batch record service on the test database."""
    return BatchService(db)


@pytest.fixture(scope="session")
def sample_symbols() -> list[str]:
    """The Tokyo symbols of the project's sample (always replayed), in a fixed order."""
    frame = pd.read_parquet(SAMPLE / "tse_daily_sample.parquet", columns=["symbol"])
    return sorted(frame["symbol"].unique())


@pytest.fixture
def live(airflow_stack_session):
    """The running stack (started again if a test stopped it), `bulk_fetch` unpaused."""
    airflow_stack_session.up()
    with airflow_stack_session.client() as client:
        deadline = time.monotonic() + 120
        while True:
            try:
                dag = client.get_dag("bulk_fetch")
                break
            except AirflowNotFoundError:
                assert time.monotonic() < deadline, "bulk_fetch never parsed"
                time.sleep(1)
        if dag["is_paused"]:
            client.unpause_dag("bulk_fetch")
    return airflow_stack_session


@pytest.fixture
def make_live_app(live):
    """Return a factory of API apps on the live stack and the stack's app database."""
    env = live.client_env()

    def make(**overrides):
        config = {
            "TESTING": True,
            "DATABASE_URL": live.config.app_database_url,
            "API_KEYS": (API_KEY,),
            "AIRFLOW_API_URL": env["AIRFLOW_API_URL"],
            "AIRFLOW_API_USER": env["AIRFLOW_API_USER"],
            "AIRFLOW_API_PASSWORD": env["AIRFLOW_API_PASSWORD"],
            "STATUS_CACHE_SECONDS": 0,
        }
        config.update(overrides)
        return create_app(config)

    return make


@pytest.fixture
def live_batches(live):
    """The batch record service on the live stack's app database."""
    return BatchService(live.config.app_database_url)
