"""Require a valid `X-API-KEY` header on every route not marked public.

Keys come from the environment (`KABUFLOW_API_KEYS`) and are compared in constant time
against every configured key, so neither the answer nor its timing tells which part of
a guess was right. A key is never logged; logs name a client by a digest of its key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable

from flask import Flask, current_app, g, request

from api.errors import UnauthorizedError
from kabuflow.settings import SettingsError

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-KEY"
ANONYMOUS_CLIENT = "anonymous"


def init_auth(app: Flask) -> None:
    """Check the app's key configuration and guard every request with it.

    Raises `SettingsError` when no key is configured and the development switch
    `KABUFLOW_API_ALLOW_NO_KEYS` is off.
    """
    if not app.config["API_KEYS"]:
        if not app.config["API_ALLOW_NO_KEYS"]:
            raise SettingsError(
                "KABUFLOW_API_KEYS",
                "no API key configured (KABUFLOW_API_ALLOW_NO_KEYS=true runs without "
                "keys, for development only)",
            )
        log.warning("API keys are OFF: every request is accepted (development only)")

    app.before_request(require_api_key)


def public(view: Callable) -> Callable:
    """Mark a view as reachable without an API key."""
    view.kabuflow_public = True
    return view


def is_public_request() -> bool:
    """Return whether the current request goes to a view marked public."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "kabuflow_public", False))


def require_api_key() -> None:
    """Reject the request unless its header carries a configured key.

    Raises `UnauthorizedError`; on success `g.api_client` names the client.
    """
    if is_public_request():
        return
    keys = current_app.config["API_KEYS"]
    if not keys:
        g.api_client = ANONYMOUS_CLIENT
        return

    candidate = request.headers.get(API_KEY_HEADER, "")
    if not key_matches(candidate, keys):
        log.warning("rejected %s %s: no valid API key", request.method, request.path)
        raise UnauthorizedError(f"a valid {API_KEY_HEADER} header is required")
    g.api_client = client_id(candidate)


def key_matches(candidate: str, keys: Iterable[str]) -> bool:
    """Return whether `candidate` is one of `keys`, in the same time either way."""
    given = candidate.encode()
    found = False
    for key in keys:
        # No early exit: every key is compared whatever the outcome.
        found |= hmac.compare_digest(given, key.encode())
    return found


def client_id(key: str) -> str:
    """Return a short, stable name for the client holding `key` that reveals nothing."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]
