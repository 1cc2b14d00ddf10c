"""Fixtures for the API: an app on the test database, its client, a failing Airflow."""

from __future__ import annotations

import pytest
from api_helpers import API_KEY, OTHER_KEY
from fake_airflow import FakeAirflow

from api import create_app
from kabuflow.batches import BatchService


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
