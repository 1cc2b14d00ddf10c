"""Limit how many requests each API key may make (flask-limiter).

The limit is `RATELIMIT_DEFAULT` (`KABUFLOW_RATE_LIMIT`), counted per key, or per
address when keys are off. Counts live in `RATELIMIT_STORAGE_URI`: memory by default,
which is per process, so several gunicorn workers need a shared store to enforce one
limit. Public views (the health check) are not limited.

flask-limiter adds `Retry-After` to every answer it counts; it is kept only where it
means something to a client (429, 503), so a successful answer does not tell it to wait.
"""

from __future__ import annotations

from flask import Flask, Response, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from api.auth import ANONYMOUS_CLIENT, is_public_request


def init_rate_limit(app: Flask) -> Limiter:
    """Attach a limiter to `app`; call it after `init_auth`, whose check runs first."""
    # Registered before the limiter's own hook, so it runs after it (Flask runs
    # after-request hooks last registered first).
    app.after_request(_retry_after_only_when_refused)
    return Limiter(
        key_func=_client_key,
        app=app,
        default_limits_exempt_when=is_public_request,
    )


def _client_key() -> str:
    client = g.get("api_client")
    if client is None or client == ANONYMOUS_CLIENT:
        return get_remote_address()
    return client


RETRY_AFTER_STATUSES = frozenset({429, 503})


def _retry_after_only_when_refused(response: Response) -> Response:
    if response.status_code not in RETRY_AFTER_STATUSES:
        response.headers.pop("Retry-After", None)
    return response
