"""Where the demo keeps its state, which ports it uses, and what it asks for.

Defaults in code, then the environment:

- `KABUFLOW_DEMO_HOME` (`var`): pid files, logs and the API key; Airflow's home is
  `<home>/airflow` unless `KABUFLOW_AIRFLOW_HOME` says otherwise.
- `KABUFLOW_DEMO_LIVE` (`false`): fetch from the real Yahoo Finance instead of the
  replay server (needs internet).
- `KABUFLOW_REPLAY_PORT` (`8765`): the replay server's port.
- `KABUFLOW_API_BIND` (`127.0.0.1:5000`): where gunicorn serves the API.
- `KABUFLOW_DEMO_SYMBOLS` (`300`): most symbols the demo asks for.
- `KABUFLOW_DEMO_SYMBOLS_PER_TASK` (`10`): symbols per Airflow task.

The app database is `KABUFLOW_DATABASE_URL`; the Airflow stack reads its own
`KABUFLOW_AIRFLOW_*` variables (`kabuflow.stack.config`), except that the demo keeps
it lean: 4 task slots unless `KABUFLOW_AIRFLOW_PARALLELISM` is set.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kabuflow.settings import Settings, SettingsError
from kabuflow.stack.config import REPO_ROOT, StackConfig

DEFAULT_HOME = REPO_ROOT / "var"
DEFAULT_REPLAY_PORT = 8765
DEFAULT_API_BIND = "127.0.0.1:5000"
DEFAULT_SYMBOLS = 300
DEFAULT_SYMBOLS_PER_TASK = 10
DEMO_PARALLELISM = 4
LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class DemoConfig:
    """One demo installation: its state folder, ports, databases and request size."""

    home: Path
    stack: StackConfig
    database_url: str
    live: bool = False
    replay_port: int = DEFAULT_REPLAY_PORT
    api_bind: str = DEFAULT_API_BIND
    symbols: int = DEFAULT_SYMBOLS
    symbols_per_task: int = DEFAULT_SYMBOLS_PER_TASK

    @property
    def run_dir(self) -> Path:
        return self.home / "demo" / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "demo" / "logs"

    @property
    def api_key_file(self) -> Path:
        # The same file `make api-up` uses, so both start an API with one key.
        return self.home / "api" / "api.key"

    @property
    def replay_url(self) -> str:
        return f"http://{LOCALHOST}:{self.replay_port}"

    @property
    def api_url(self) -> str:
        host, _, port = self.api_bind.rpartition(":")
        if host in ("", "0.0.0.0"):
            host = LOCALHOST
        return f"http://{host}:{port}"

    @property
    def yahoo_url(self) -> str:
        """Return the Yahoo base URL every task uses; blank means the real Yahoo."""
        return "" if self.live else self.replay_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DemoConfig:
        """Build the configuration; raise `SettingsError` naming an invalid variable."""
        env = os.environ if environ is None else environ
        home = _path(env, "KABUFLOW_DEMO_HOME", DEFAULT_HOME)
        live = _flag(env, "KABUFLOW_DEMO_LIVE")
        replay_port = _number(env, "KABUFLOW_REPLAY_PORT", DEFAULT_REPLAY_PORT, 65535)
        yahoo_url = "" if live else f"http://{LOCALHOST}:{replay_port}"
        return cls(
            home=home,
            stack=_stack_config(env, home, yahoo_url),
            database_url=Settings.from_env(env).database_url,
            live=live,
            replay_port=replay_port,
            api_bind=_bind(env, "KABUFLOW_API_BIND", DEFAULT_API_BIND),
            symbols=_number(env, "KABUFLOW_DEMO_SYMBOLS", DEFAULT_SYMBOLS, 5000),
            symbols_per_task=_number(
                env, "KABUFLOW_DEMO_SYMBOLS_PER_TASK", DEFAULT_SYMBOLS_PER_TASK, 500
            ),
        )


def _stack_config(env: Mapping[str, str], home: Path, yahoo_url: str) -> StackConfig:
    stack = StackConfig.from_env(env)
    changes: dict = {"extra_env": {"KABUFLOW_YAHOO_URL": yahoo_url}}
    if not (env.get("KABUFLOW_AIRFLOW_HOME") or "").strip():
        changes["home"] = home / "airflow"
    if not (env.get("KABUFLOW_AIRFLOW_PARALLELISM") or "").strip():
        changes["parallelism"] = DEMO_PARALLELISM
    if not (env.get("KABUFLOW_YAHOO_POOL_SLOTS") or "").strip():
        changes["yahoo_pool_slots"] = DEMO_PARALLELISM
    return dataclasses.replace(stack, **changes)


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = (env.get(name) or "").strip()
    return Path(raw).resolve() if raw else default


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(name, f"expected true or false, got {raw!r}")


def _number(env: Mapping[str, str], name: str, default: int, most: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise SettingsError(name, f"expected an integer from 1 to {most}, got {raw!r}")
    return int(raw)


def _bind(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    _, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SettingsError(name, f"expected HOST:PORT, got {raw!r}")
    return raw
