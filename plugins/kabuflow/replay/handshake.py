"""Yahoo's cookie and crumb handshake, both ways yfinance performs it.

`basic`: `fc.yahoo.com/` sets the `A3` cookie, then `/v1/test/getcrumb` answers a
crumb to a client that sends it. `csrf`: `guce.yahoo.com/consent` serves a consent
form, `POST /v2/collectConsent` with its token sets the cookie, `/copyConsent` follows.
Cookies and crumbs are signed with the server's secret, so any replay server with the
same secret accepts them; a chart or quote request without a valid crumb gets 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import Blueprint, Response, request

from kabuflow.replay.errors import YahooRefusal
from kabuflow.replay.state import current_state

COOKIE_NAME = "A3"
COOKIE_SECONDS = 365 * 86400
CRUMB_NONCE = 5
CRUMB_MAC = 6

bp = Blueprint("handshake", __name__)


@bp.get("/")
def cookie() -> Response:
    response = Response("kabuflow replay server\n", mimetype="text/plain")
    _set_cookie(response)
    return response


@bp.get("/v1/test/getcrumb")
def crumb() -> Response:
    value = request.cookies.get(COOKIE_NAME, "")
    if not cookie_is_valid(current_state().secret, value):
        raise YahooRefusal(401, "Unauthorized", "Invalid Cookie", root="finance")
    return Response(new_crumb(current_state().secret), mimetype="text/plain")


@bp.get("/consent")
def consent_form() -> Response:
    session_id = secrets.token_urlsafe(12)
    token = _mac(current_state().secret, "csrf", session_id, 16)
    page = (
        "<html><body><form method='post' action='/v2/collectConsent'>"
        f"<input type='hidden' name='csrfToken' value='{token}'/>"
        f"<input type='hidden' name='sessionId' value='{session_id}'/>"
        "<button type='submit' name='agree' value='agree'>Accept all</button>"
        "</form></body></html>"
    )
    return Response(page, mimetype="text/html")


@bp.post("/v2/collectConsent")
def collect_consent() -> Response:
    session_id = request.form.get("sessionId") or request.args.get("sessionId", "")
    expected = _mac(current_state().secret, "csrf", session_id, 16)
    if not hmac.compare_digest(request.form.get("csrfToken", ""), expected):
        raise YahooRefusal(400, "Bad Request", "Invalid consent token", root="finance")
    response = Response("consent recorded\n", mimetype="text/plain")
    _set_cookie(response)
    return response


@bp.get("/copyConsent")
def copy_consent() -> Response:
    return Response("consent copied\n", mimetype="text/plain")


def require_crumb(root: str = "finance") -> None:
    """Raise `YahooRefusal` (401 "Invalid Crumb") unless the request has a valid one."""
    if not crumb_is_valid(current_state().secret, request.args.get("crumb", "")):
        raise YahooRefusal(401, "Unauthorized", "Invalid Crumb", root=root)


def new_cookie(secret: bytes) -> str:
    nonce = secrets.token_urlsafe(12)
    return f"d={nonce}&S={_mac(secret, 'cookie', nonce, 16)}"


def cookie_is_valid(secret: bytes, value: str) -> bool:
    nonce, _, signature = value.removeprefix("d=").partition("&S=")
    return bool(nonce) and hmac.compare_digest(
        signature, _mac(secret, "cookie", nonce, 16)
    )


def new_crumb(secret: bytes) -> str:
    nonce = secrets.token_urlsafe(CRUMB_NONCE)[:CRUMB_NONCE]
    return nonce + _mac(secret, "crumb", nonce, CRUMB_MAC)


def crumb_is_valid(secret: bytes, crumb: str) -> bool:
    if len(crumb) != CRUMB_NONCE + CRUMB_MAC:
        return False
    nonce, signature = crumb[:CRUMB_NONCE], crumb[CRUMB_NONCE:]
    return hmac.compare_digest(signature, _mac(secret, "crumb", nonce, CRUMB_MAC))


def _set_cookie(response: Response) -> None:
    response.set_cookie(
        COOKIE_NAME,
        new_cookie(current_state().secret),
        max_age=COOKIE_SECONDS,
        path="/",
        httponly=True,
    )


def _mac(secret: bytes, purpose: str, value: str, length: int) -> str:
    digest = hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:length]
