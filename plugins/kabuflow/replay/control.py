"""The replay server's own endpoints under `/__replay/`: scenario, stats, health.

Other processes (Airflow tasks, benchmarks) change the scenario of a running server
here. Stats count every request except these control requests.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, request

from kabuflow.replay.scenario import Scenario
from kabuflow.replay.state import current_state
from kabuflow.replay.views import json_response

bp = Blueprint("control", __name__, url_prefix="/__replay")


@bp.get("/scenario")
def show_scenario() -> Response:
    state = current_state()
    return json_response({"scenario": dict(state.scenario.source), **_clock(state)})


@bp.put("/scenario")
def put_scenario() -> Response:
    state = current_state()
    state.set_scenario(Scenario.from_dict(request.get_json()))
    return json_response({"scenario": dict(state.scenario.source), **_clock(state)})


@bp.delete("/scenario")
def reset_scenario() -> Response:
    state = current_state()
    state.set_scenario(Scenario())
    return json_response({"scenario": {}, **_clock(state)})


@bp.get("/stats")
def show_stats() -> Response:
    return json_response(current_state().stats())


@bp.delete("/stats")
def reset_stats() -> Response:
    current_state().reset_stats()
    return json_response(current_state().stats())


@bp.get("/health")
def health() -> Response:
    state = current_state()
    return json_response({"status": "ok", "symbols": len(state.store), **_clock(state)})


def _clock(state) -> dict:
    now = dt.datetime.fromtimestamp(state.now(), dt.UTC)
    return {"now": now.isoformat().replace("+00:00", "Z")}
