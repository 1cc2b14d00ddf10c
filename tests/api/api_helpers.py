"""Constants and small helpers the API tests share (conftest.py is not importable)."""

from __future__ import annotations

API_KEY = "kabuflow-test-key-0000000001"
OTHER_KEY = "kabuflow-test-key-0000000002"
VALID_BODY = {"symbols": ["7203.T", "6758.T"], "interval": "1d", "period": "1y"}


def auth(key: str = API_KEY) -> dict[str, str]:
    """Return the header that authenticates with `key`."""
    return {"X-API-KEY": key}


def batch_count(conn) -> int:
    """Return how many batches the database holds."""
    return conn.execute("SELECT count(*) FROM batch_executions").fetchone()[0]
