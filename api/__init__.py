"""kabuflow's REST API: start, watch and stop bulk jobs that run on Airflow.

`create_app(test_config=None)` builds the app from the environment (see `api.config`
and `kabuflow.settings`), with `test_config` laid over it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from api import bulk, health
from api.auth import init_auth
from api.config import build_config
from api.errors import register_error_handlers
from api.ratelimit import init_rate_limit
from api.services import init_services


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the API app.

    Raises `SettingsError` at start-up for invalid configuration, no API key (unless
    `KABUFLOW_API_ALLOW_NO_KEYS`) or no Airflow password.
    """
    app = Flask(__name__)
    app.config.from_mapping(build_config())
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False

    register_error_handlers(app)
    # The key check must run before the limiter, which counts per key.
    init_auth(app)
    init_rate_limit(app)
    init_services(app)

    app.register_blueprint(health.bp)
    app.register_blueprint(bulk.bp)
    return app
