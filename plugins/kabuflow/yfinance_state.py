"""Control yfinance's process-wide state (DESIGN.md decision 10).

yfinance keeps state for the whole process; kabuflow sets it once per process (again
after a fork, since the pid changes) before any fetch:

- `config.network.retries = 0`: Airflow retries with backoff and jitter, not yfinance.
- `config.debug.hide_exceptions = False`: failures raise instead of returning an
  empty frame that would look like "no data".
- yfinance's on-disk caches are replaced. By default they are SQLite files in the
  user's cache directory, shared by every process on the host, and a forked worker
  inherits its parent's open connection. The time-zone and ISIN caches become
  yfinance's own no-op caches: one time-zone lookup request per fetch, which a warm
  cache would rarely save (a task fetches each symbol once). The cookie cache
  becomes an in-memory one for this process: without any, yfinance would fetch a
  new cookie before every request; with it, once per process. (Two sources with
  different base URLs in one process share that cookie; Yahoo then asks for a new
  one, which yfinance handles.)
- pandas' deprecation warnings raised in yfinance's modules are ignored during a
  fetch (`quiet_yfinance_warnings`): they would repeat in every task log.
- The response cache (`YfData.cache_get`, an lru cache for the process's life) is
  emptied before every fetch, under `YFINANCE_LOCK`: yfinance serves any window in
  the past from it, error answers (a 500) included, so a retry or a re-fetch after
  Yahoo corrected history would silently get the old answer.

`YfData` is a singleton holding the session of the last `Ticker` created, so two
threads fetching with different sessions would send each other's requests. Every
yfinance call therefore runs while holding `YFINANCE_LOCK`: one fetch at a time per
process. Parallelism comes from processes (Airflow tasks), capped by the pool. A
forked child gets a fresh lock (read it as `yfinance_state.YFINANCE_LOCK`).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
import os
import threading
import warnings
from collections.abc import Iterator

import yfinance
from pandas import errors as pd_errors
from yfinance import cache as yf_cache
from yfinance.data import YfData

from kabuflow.errors import SourceConfigurationError

log = logging.getLogger(__name__)

YFINANCE_LOCK = threading.RLock()

# (manager class in yfinance.cache, attribute holding its cache, replacement)
_CACHES = (
    ("_TzCacheManager", "_tz_cache", lambda: yf_cache._TzCacheDummy()),
    ("_CookieCacheManager", "_Cookie_cache", lambda: MemoryCookieCache()),
    ("_ISINCacheManager", "_isin_cache", lambda: yf_cache._ISINCacheDummy()),
)

_configured_pid: int | None = None


def _renew_lock_in_child() -> None:
    global YFINANCE_LOCK
    # A parent thread holding the lock at the fork does not exist in the child.
    YFINANCE_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_renew_lock_in_child)


def configure_yfinance() -> None:
    """Put yfinance's process-wide settings and caches in kabuflow's state.

    Cheap after the first call in a process. Raises `SourceConfigurationError` if
    this yfinance no longer has the cache internals this module replaces.
    """
    global _configured_pid
    with YFINANCE_LOCK:
        if _configured_pid == os.getpid():
            return
        yfinance.config.network.retries = 0
        yfinance.config.debug.hide_exceptions = False
        _replace_disk_caches()
        _configured_pid = os.getpid()
    log.debug("yfinance %s configured for pid %s", yfinance.__version__, os.getpid())


@contextlib.contextmanager
def quiet_yfinance_warnings() -> Iterator[None]:
    """Ignore pandas' deprecation warnings raised in yfinance's modules meanwhile.

    yfinance 1.7 calls pandas APIs that pandas 3.1 deprecates, three warnings per
    `history()` call, which would bury every task's log; they are yfinance's to fix.
    Warnings from anywhere else pass. Use it holding `YFINANCE_LOCK`: Python's
    warning filters are process-wide.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=pd_errors.Pandas4Warning, module=r"yfinance(\.|$)"
        )
        yield


def clear_response_cache() -> None:
    """Forget every response yfinance cached; call it holding `YFINANCE_LOCK`."""
    YfData.cache_get.cache_clear()


class MemoryCookieCache:
    """yfinance's cookie cache interface, kept in this process's memory only."""

    def __init__(self):
        self._entries: dict[str, tuple[object, dt.datetime]] = {}

    def lookup(self, strategy: str) -> dict | None:
        entry = self._entries.get(strategy)
        if entry is None:
            return None
        cookie, stored_at = entry
        return {"cookie": copy.deepcopy(cookie), "age": dt.datetime.now() - stored_at}

    def store(self, strategy: str, cookie) -> None:
        if cookie is None:
            self._entries.pop(strategy, None)
            return
        self._entries[strategy] = (copy.deepcopy(cookie), dt.datetime.now())


def _replace_disk_caches() -> None:
    for manager_name, attribute, replacement in _CACHES:
        manager = getattr(yf_cache, manager_name, None)
        try:
            cache = replacement()
        except AttributeError:
            cache = None
        if manager is None or cache is None or not hasattr(manager, attribute):
            raise SourceConfigurationError(
                f"yfinance {yfinance.__version__} changed {manager_name}.{attribute}: "
                "review kabuflow.yfinance_state before upgrading"
            )
        setattr(manager, attribute, cache)
