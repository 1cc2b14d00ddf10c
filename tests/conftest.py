"""Fixtures that build the world: a freshly migrated app database per test session."""

from __future__ import annotations

import os

import psycopg
import pytest

TEST_DATABASE_URL = os.environ.get(
    "KABUFLOW_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kabuflow_test"
)
# Everything kabuflow opens during the tests goes to the test database.
os.environ["KABUFLOW_DATABASE_URL"] = TEST_DATABASE_URL

APP_TABLES = (
    "batch_execution_details",
    "batch_executions",
    "stock_master",
    "stock_master_updates",
    "daily_prices",
    "intraday_prices",
    "corporate_actions",
)


def reset_schema(url: str) -> None:
    """Drop everything in the public schema of `url`, leaving an empty database."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(scope="session")
def database_url() -> str:
    """The test app database, emptied and migrated to the newest schema once per session."""
    from kabuflow import migrations

    reset_schema(TEST_DATABASE_URL)
    migrations.upgrade(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture
def db(database_url):
    """A clean app database for one test: every table emptied before it runs."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE " + ", ".join(APP_TABLES) + " RESTART IDENTITY CASCADE"
        )
    return database_url


@pytest.fixture
def conn(db):
    """An autocommit connection to the clean test database."""
    with psycopg.connect(db, autocommit=True) as connection:
        yield connection
