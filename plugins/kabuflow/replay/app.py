"""The replay server's Flask application: Yahoo's endpoints plus `/__replay/`."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from kabuflow.replay import control, handshake, views
from kabuflow.replay.errors import ScenarioError, YahooRefusal
from kabuflow.replay.state import EXTENSION, ReplayState, current_state

log = logging.getLogger(__name__)


def create_app(state: ReplayState) -> Flask:
    """Build the app serving `state`; errors become Yahoo-shaped JSON here only."""
    app = Flask(__name__)
    app.extensions[EXTENSION] = state
    app.register_blueprint(handshake.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(control.bp)
    app.register_error_handler(YahooRefusal, _yahoo_refusal)
    app.register_error_handler(ScenarioError, _scenario_error)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_count)
    return app


def _yahoo_refusal(exc: YahooRefusal) -> Response:
    log.debug("refused %s: %s", request.path, exc)
    body = {
        exc.root: {
            "result": None,
            "error": {"code": exc.code, "description": exc.description},
        }
    }
    return views.json_response(body, status=exc.status)


def _scenario_error(exc: ScenarioError) -> Response:
    body = {"error": {"field": exc.field, "message": exc.message}}
    return views.json_response(body, status=400)


def _http_error(exc: HTTPException) -> Response:
    if request.path.startswith("/__replay/"):
        body = {"error": {"field": "body", "message": exc.description}}
        return views.json_response(body, status=exc.code)
    error = {"code": exc.name, "description": f"HTTP {exc.code} {exc.name}"}
    return views.json_response({"finance": {"result": None, "error": error}}, exc.code)


def _count(response: Response) -> Response:
    if request.path.startswith("/__replay/"):
        return response
    rule = request.url_rule.rule if request.url_rule else "(no route)"
    current_state().record(
        rule, response.status_code, g.get("replay_symbol"), g.get("replay_kinds", [])
    )
    return response
