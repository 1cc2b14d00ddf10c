"""The test app database: its address and how to empty it (importable anywhere)."""

from __future__ import annotations

import os

import psycopg

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
