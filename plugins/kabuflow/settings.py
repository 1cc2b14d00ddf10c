"""Read kabuflow's configuration from the environment, once, with documented defaults.

Every variable, its default and its meaning (the README's configuration table mirrors
this list):

- `KABUFLOW_DATABASE_URL`, default `postgresql://postgres@127.0.0.1:5432/kabuflow`:
  the app database (prices, batches).
- `ENABLE_PHASE2`, default `true`: keep the batch record in `batch_executions`;
  `false` = Airflow only.
- `KABUFLOW_API_KEYS`, no default: comma-separated keys accepted in `X-API-KEY`.
- `KABUFLOW_API_ALLOW_NO_KEYS`, default `false`: development switch, run the API
  without keys.
- `KABUFLOW_MAX_SYMBOLS`, default `5000`: most symbols one bulk request may carry.
- `AIRFLOW_API_URL`, default `http://127.0.0.1:8080`: the Airflow api-server.
- `AIRFLOW_API_USER`, default `kabuflow`: Airflow user the API triggers runs as.
- `AIRFLOW_API_PASSWORD`, no default: that user's password.
- `KABUFLOW_YAHOO_URL`, no default (real Yahoo): send every Yahoo request to this base
  URL (the replay server).
- `KABUFLOW_YAHOO_TIMEOUT`, default `30`: seconds before a Yahoo request times out.

A blank value counts as unset. An invalid value raises `SettingsError` naming the
variable, so a process fails at start-up.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kabuflow"
DEFAULT_AIRFLOW_API_URL = "http://127.0.0.1:8080"
DEFAULT_MAX_SYMBOLS = 5000

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A configuration variable holds a value kabuflow cannot use."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    """kabuflow's configuration; build it with `Settings.from_env()`."""

    # The URL may carry a password: repr shows it redacted (see __repr__).
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    enable_phase2: bool = True
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    api_allow_no_keys: bool = False
    max_symbols: int = DEFAULT_MAX_SYMBOLS
    airflow_api_url: str = DEFAULT_AIRFLOW_API_URL
    airflow_api_user: str = "kabuflow"
    airflow_api_password: str | None = field(default=None, repr=False)
    yahoo_url: str | None = None
    yahoo_timeout: float = 30.0

    def __repr__(self) -> str:
        shown = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if self.__dataclass_fields__[name].repr
        }
        fields = ", ".join(f"{name}={value!r}" for name, value in shown.items())
        return f"Settings(database_url={redact_url(self.database_url)!r}, {fields})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default: `os.environ`).

        Raises `SettingsError` naming the first variable whose value is invalid.
        """
        env = os.environ if environ is None else environ

        return cls(
            database_url=_postgres_url(
                env, "KABUFLOW_DATABASE_URL", DEFAULT_DATABASE_URL
            ),
            enable_phase2=_bool(env, "ENABLE_PHASE2", True),
            api_keys=_keys(env, "KABUFLOW_API_KEYS"),
            api_allow_no_keys=_bool(env, "KABUFLOW_API_ALLOW_NO_KEYS", False),
            max_symbols=_positive_int(env, "KABUFLOW_MAX_SYMBOLS", DEFAULT_MAX_SYMBOLS),
            airflow_api_url=_http_url(env, "AIRFLOW_API_URL", DEFAULT_AIRFLOW_API_URL),
            airflow_api_user=(env.get("AIRFLOW_API_USER") or "").strip() or "kabuflow",
            airflow_api_password=env.get("AIRFLOW_API_PASSWORD") or None,
            yahoo_url=_optional_http_url(env, "KABUFLOW_YAHOO_URL"),
            yahoo_timeout=_positive_float(env, "KABUFLOW_YAHOO_TIMEOUT", 30.0),
        )


def redact_url(url: str) -> str:
    """Return `url` with any password replaced by `***`, for logs and repr."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def get_settings() -> Settings:
    """Return settings read from the current environment (cheap; read every call)."""
    return Settings.from_env()


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(name, f"expected true or false, got {raw!r}")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"expected a positive integer, got {raw!r}") from None
    if value < 1:
        raise SettingsError(name, f"expected a positive integer, got {raw!r}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"expected a positive number, got {raw!r}") from None
    # float() also accepts "nan" and "inf": neither is a usable timeout.
    if not (value > 0 and math.isfinite(value)):
        raise SettingsError(name, f"expected a positive number, got {raw!r}")
    return value


def _keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    if any(len(key) < 16 for key in keys):
        # The value itself is never echoed: it is a secret.
        raise SettingsError(name, "every key must be at least 16 characters long")
    return keys


def _postgres_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    if urlsplit(raw).scheme not in {"postgresql", "postgres"}:
        raise SettingsError(name, "expected a postgresql:// URL")
    return raw


def _http_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(name, f"expected an http:// or https:// URL, got {raw!r}")
    return raw.rstrip("/")


def _optional_http_url(env: Mapping[str, str], name: str) -> str | None:
    if not (env.get(name) or "").strip():
        return None
    return _http_url(env, name, "")
