"""Connections to the app database: one psycopg connection pool per URL per process.

SQL text lives in `sql/` (see `kabuflow.sqlfiles`); this module hands out connections.
"""

from __future__ import annotations

import atexit
import threading

from psycopg_pool import ConnectionPool

from kabuflow.settings import get_settings

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def get_pool(database_url: str | None = None, max_size: int = 8) -> ConnectionPool:
    """Return the process pool for `database_url` (default: the app database setting).

    The pool opens on first use and waits up to 10 s for the first connection, so an
    unreachable database fails loudly here rather than on a later query.
    """
    url = database_url or get_settings().database_url
    with _lock:
        pool = _pools.get(url)
        if pool is None:
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max_size,
                open=False,
                name="kabuflow",
                kwargs={"application_name": "kabuflow"},
            )
            pool.open(wait=True, timeout=10)
            _pools[url] = pool
        return pool


def close_pools() -> None:
    """Close every pool this process opened (tests and forked workers call it)."""
    with _lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


atexit.register(close_pools)
