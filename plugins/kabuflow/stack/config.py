"""What the local Airflow stack looks like: paths, ports, sizes, and its environment.

Defaults in code, then `KABUFLOW_AIRFLOW_*` environment variables, then whatever a test
passes to `StackConfig(...)` directly. The Airflow settings themselves are in
`deploy/airflow.env`; this module fills in its `${NAME}` placeholders.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from kabuflow.errors import StackError
from kabuflow.settings import DEFAULT_DATABASE_URL, Settings, SettingsError

REPO_ROOT = Path(__file__).resolve().parents[3]
ENV_TEMPLATE = REPO_ROOT / "deploy" / "airflow.env"

YAHOO_POOL = "yahoo"
YAHOO_POOL_DESCRIPTION = "concurrent requests to Yahoo Finance, across all runs"
ADMIN_USER = "admin"
SERVICE_USER = "kabuflow"

DEFAULT_METADATA_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/airflow"
DEFAULT_MAX_MAP_LENGTH = 10_000
# PostgreSQL ends a metadata-database session that sits this long inside a transaction.
# A scheduler killed mid-transaction leaves its connection open in the executor workers
# it forked (they inherit the socket and outlive it); without the timeout the dead
# transaction keeps its row locks on dag_run for good and the new scheduler, which skips
# locked runs, never schedules that run again (seen here: A6 hung).
IDLE_IN_TRANSACTION_TIMEOUT = "120s"


@dataclass(frozen=True)
class StackConfig:
    """One local Airflow stack; two stacks need different homes, ports and databases.

    `extra_env` reaches every Airflow process and therefore every task (the demo passes
    `KABUFLOW_YAHOO_URL` this way); the caller's own environment is inherited as well.
    """

    home: Path = REPO_ROOT / "var" / "airflow"
    dags_folder: Path = REPO_ROOT / "dags"
    metadata_database_url: str = DEFAULT_METADATA_DATABASE_URL
    app_database_url: str = DEFAULT_DATABASE_URL
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    log_server_port: int = 8793
    # The scheduler pre-forks one worker per slot; tasks mostly wait on the network.
    parallelism: int = 8
    yahoo_pool_slots: int = 8
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH
    refresh_interval: int = 5
    ready_timeout: float = 120.0
    stop_grace: float = 20.0
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    @property
    def env_file(self) -> Path:
        return self.home / "airflow.env"

    @property
    def client_env_file(self) -> Path:
        return self.home / "client.env"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackConfig:
        """Build the configuration from the environment.

        Raises `SettingsError` naming the first variable whose value is invalid.
        """
        env = os.environ if environ is None else environ
        settings = Settings.from_env(env)
        defaults = cls()
        return cls(
            home=_path(env, "KABUFLOW_AIRFLOW_HOME", defaults.home),
            dags_folder=_path(env, "KABUFLOW_DAGS_FOLDER", defaults.dags_folder),
            metadata_database_url=env.get("KABUFLOW_AIRFLOW_DATABASE_URL")
            or defaults.metadata_database_url,
            app_database_url=settings.database_url,
            api_port=_int(env, "KABUFLOW_AIRFLOW_PORT", defaults.api_port),
            log_server_port=_int(
                env, "KABUFLOW_AIRFLOW_LOG_SERVER_PORT", defaults.log_server_port
            ),
            parallelism=_int(env, "KABUFLOW_AIRFLOW_PARALLELISM", defaults.parallelism),
            yahoo_pool_slots=_int(
                env, "KABUFLOW_YAHOO_POOL_SLOTS", defaults.yahoo_pool_slots
            ),
            # A request of max_symbols symbols maps that many task instances.
            max_map_length=max(DEFAULT_MAX_MAP_LENGTH, settings.max_symbols),
        )


def template_values(config: StackConfig, secrets: Mapping[str, str]) -> dict[str, str]:
    """Return the value of every `${NAME}` in `deploy/airflow.env`."""
    return {
        "AIRFLOW_HOME": str(config.home),
        "DAGS_FOLDER": str(config.dags_folder),
        "METADATA_DATABASE_URL": airflow_connection_url(config.metadata_database_url),
        "APP_DATABASE_URL": config.app_database_url,
        "PARALLELISM": str(config.parallelism),
        "MAX_MAP_LENGTH": str(config.max_map_length),
        "REFRESH_INTERVAL": str(config.refresh_interval),
        "API_HOST": config.api_host,
        "API_PORT": str(config.api_port),
        "API_URL": config.api_url,
        "LOG_SERVER_PORT": str(config.log_server_port),
        "PASSWORDS_FILE": str(config.passwords_file),
        "JWT_SECRET": secrets["jwt_secret"],
        "API_SECRET_KEY": secrets["api_secret_key"],
        "FERNET_KEY": secrets["fernet_key"],
    }


def airflow_connection_url(url: str) -> str:
    """Return the metadata database URL that Airflow's processes connect with.

    Adds libpq's `options` with the idle-in-transaction timeout, unless the URL sets
    `options` itself (then it is the operator's call).
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "options" for key, _ in query):
        return url
    timeout = f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT}"
    query.append(("options", timeout))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def render_env(template: str, values: Mapping[str, str]) -> dict[str, str]:
    """Return the `KEY=value` lines of `template` with every `${NAME}` filled in.

    Raises `StackError` naming a placeholder that has no value.
    """
    env: dict[str, str] = {}
    for number, line in enumerate(template.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        if not sep:
            raise StackError(f"{ENV_TEMPLATE.name}:{number}: expected KEY=value")
        try:
            env[key.strip()] = string.Template(raw.strip()).substitute(values)
        except KeyError as exc:
            raise StackError(
                f"{ENV_TEMPLATE.name}:{number}: no value for placeholder {exc}"
            ) from exc
    return env


def format_env_file(env: Mapping[str, str]) -> str:
    """Return `env` as lines a shell can source (`set -a; . file`)."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in env.items())


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = (env.get(name) or "").strip()
    return Path(raw).resolve() if raw else default


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"expected a positive integer, got {raw!r}") from None
    if value < 1:
        raise SettingsError(name, f"expected a positive integer, got {raw!r}")
    return value
