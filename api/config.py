"""Build the API's Flask config from kabuflow's settings and the API's own variables.

The API's own variables (everything else is in `kabuflow.settings`):

- `KABUFLOW_RATE_LIMIT` (`600/minute`): requests one API key may make, in
  flask-limiter's syntax.
- `KABUFLOW_RATE_LIMIT_STORAGE_URI` (`memory://`): where counts live. Memory is per
  process: several gunicorn workers need one shared store (e.g. `redis://`).
- `KABUFLOW_MAX_BODY_BYTES` (`1048576`): largest request body; a larger one is
  answered 413 unread.
- `KABUFLOW_AIRFLOW_TIMEOUT` (`10`): seconds one call to Airflow's REST API may take.
- `KABUFLOW_STATUS_CACHE_SECONDS` (`2`): how long one process answers the status of
  an ended job from memory; `0` turns that off. Running jobs are never cached.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from kabuflow.settings import Settings, SettingsError

DEFAULT_RATE_LIMIT = "600/minute"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_AIRFLOW_TIMEOUT = 10.0
DEFAULT_STATUS_CACHE_SECONDS = 2.0
BULK_DAG_ID = "bulk_fetch"


def build_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the Flask config for `environ` (default: `os.environ`).

    Raises `SettingsError` naming the first variable whose value is invalid.
    """
    env = os.environ if environ is None else environ
    settings = Settings.from_env(env)

    return {
        "DATABASE_URL": settings.database_url,
        "ENABLE_PHASE2": settings.enable_phase2,
        "API_KEYS": settings.api_keys,
        "API_ALLOW_NO_KEYS": settings.api_allow_no_keys,
        "MAX_SYMBOLS": settings.max_symbols,
        "AIRFLOW_API_URL": settings.airflow_api_url,
        "AIRFLOW_API_USER": settings.airflow_api_user,
        "AIRFLOW_API_PASSWORD": settings.airflow_api_password,
        "BULK_DAG_ID": BULK_DAG_ID,
        "AIRFLOW_TIMEOUT": _positive_float(
            env, "KABUFLOW_AIRFLOW_TIMEOUT", DEFAULT_AIRFLOW_TIMEOUT
        ),
        "STATUS_CACHE_SECONDS": _non_negative_float(
            env, "KABUFLOW_STATUS_CACHE_SECONDS", DEFAULT_STATUS_CACHE_SECONDS
        ),
        "MAX_CONTENT_LENGTH": _positive_int(
            env, "KABUFLOW_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES
        ),
        "RATELIMIT_DEFAULT": env.get("KABUFLOW_RATE_LIMIT") or DEFAULT_RATE_LIMIT,
        "RATELIMIT_STORAGE_URI": env.get("KABUFLOW_RATE_LIMIT_STORAGE_URI")
        or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
    }


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(name, f"expected a positive integer, got {raw!r}")
    return int(raw)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value == 0:
        raise SettingsError(name, "expected a positive number, got 0")
    return value


def _non_negative_float(env: Mapping[str, str], name: str, default: float) -> float:
    return _float(env, name, default)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"expected a number, got {raw!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise SettingsError(name, f"expected a finite number >= 0, got {raw!r}")
    return value
