"""Fixtures that build the world: a freshly migrated app database per test session."""

from __future__ import annotations

import offline
import psycopg
import pytest
from testdb import APP_TABLES, TEST_DATABASE_URL, reset_schema

offline.install()

# The real Airflow stack for the tests marked `airflow`, started once per session.
pytest_plugins = ["airflow_fixtures"]


@pytest.fixture(scope="session")
def database_url() -> str:
    """The test app database, emptied and migrated to the newest schema per session."""
    from kabuflow import migrations

    reset_schema(TEST_DATABASE_URL)
    migrations.upgrade(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture
def db(database_url):
    """A clean app database for one test: every table emptied before it runs."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Ids keep counting: a write that the session's Airflow still makes for a
        # batch of an earlier test must not land in a new batch that took its id.
        conn.execute("TRUNCATE " + ", ".join(APP_TABLES) + " CASCADE")
    return database_url


@pytest.fixture
def conn(db):
    """An autocommit connection to the clean test database."""
    with psycopg.connect(db, autocommit=True) as connection:
        yield connection
