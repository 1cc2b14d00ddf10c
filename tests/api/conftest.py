"""Fixtures for the API: an app on the test database, its client, a failing Airflow."""

from __future__ import annotations

import pytest
from fake_airflow import FakeAirflow

from api import create_app
from kabuflow.batches import BatchService

API_KEY = "kabuflow-test-key-0000000001"
OTHER_KEY = "kabuflow-test-key-0000000002"
VALID_BODY = {"symbols": ["7203.T", "6758.T"], "interval": "1d", "period": "1y"}


def auth(key: str = API_KEY) -> dict[str, str]:
    """Return the header that authenticates with `key`."""
    return {"X-API-KEY": key}


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


def batch_count(conn) -> int:
    """Return how many batches the database holds."""
    return conn.execute("SELECT count(*) FROM batch_executions").fetchone()[0]
