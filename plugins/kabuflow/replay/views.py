"""Yahoo's data endpoints: chart, quoteSummary, quote and fundamentals series.

Each chart request is numbered and passes the scenario's faults in the order a
client meets them in front of Yahoo: delay, rate limit, crumb, server error,
time-zone failure, then the data itself.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, g, request

from kabuflow.replay.chart import chart_body
from kabuflow.replay.errors import YahooRefusal
from kabuflow.replay.handshake import require_crumb
from kabuflow.replay.quote import quote_body, quote_summary_body, timeseries_body
from kabuflow.replay.state import current_state
from kabuflow.replay.windows import parse_query

log = logging.getLogger(__name__)

GATEWAY_PAGE = "<html><body><h1>{status} Server Error</h1></body></html>\n"

bp = Blueprint("yahoo", __name__)


@bp.get("/v8/finance/chart/<path:symbol>")
def chart(symbol: str) -> Response:
    state = current_state()
    symbol = _note_symbol(symbol)
    number = state.next_chart_request()
    scenario = state.scenario
    g.replay_kinds = ["chart"]
    query = parse_query(request.args)
    if query.is_timezone_probe:
        g.replay_kinds.append("tz_lookup")

    if symbol in scenario.delays:
        time.sleep(scenario.delays[symbol])
    if scenario.is_rate_limited(symbol, number):
        log.debug("chart request %s for %s rate-limited", number, symbol)
        return Response("Too Many Requests\r\n", status=429, mimetype="text/plain")
    require_crumb()
    if symbol in scenario.server_errors:
        return _server_error(scenario.server_errors[symbol], "chart")
    if query.is_timezone_probe and symbol in scenario.tz_failures:
        return _server_error(500, "chart")

    series = _known(state.series(symbol), symbol, "chart")
    intraday = scenario.intraday_bars(symbol, query.interval)
    return json_response(chart_body(series, query, state.now(), intraday))


@bp.get("/v10/finance/quoteSummary/<path:symbol>")
def quote_summary(symbol: str) -> Response:
    state = current_state()
    symbol = _note_symbol(symbol)
    g.replay_kinds = ["quote"]
    require_crumb()
    if symbol in state.scenario.tz_failures:
        return _server_error(500, "quoteSummary")
    series = _known(state.series(symbol), symbol, "quoteSummary")
    modules = set(request.args.get("modules", "").split(","))
    return json_response(quote_summary_body(series, modules, state.now()))


@bp.get("/v7/finance/quote")
def quote() -> Response:
    state = current_state()
    symbols = [s.strip().upper() for s in request.args.get("symbols", "").split(",")]
    require_crumb()
    if any(symbol in state.scenario.tz_failures for symbol in symbols):
        return _server_error(500, "quoteResponse")
    found = [state.series(symbol) for symbol in symbols if symbol]
    return json_response(quote_body([s for s in found if s is not None], state.now()))


@bp.get("/ws/fundamentals-timeseries/v1/finance/timeseries/<path:symbol>")
def fundamentals_timeseries(symbol: str) -> Response:
    return json_response(timeseries_body())


def json_response(body: Any, status: int = 200) -> Response:
    """Return `body` as compact JSON; NaN is refused (Yahoo sends null instead)."""
    text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    return Response(text, status=status, mimetype="application/json")


def _note_symbol(raw: str) -> str:
    g.replay_symbol = raw.strip().upper()
    return g.replay_symbol


def _known(series, symbol: str, root: str):
    if series is not None:
        return series
    if root == "chart":
        raise YahooRefusal(404, "Not Found", "No data found, symbol may be delisted")
    raise YahooRefusal(
        404, "Not Found", f"Quote not found for symbol: {symbol}", root=root
    )


def _server_error(status: int, root: str) -> Response:
    if status != 500:
        # Gateways in front of Yahoo answer with a page, not with Yahoo's JSON.
        page = GATEWAY_PAGE.format(status=status)
        return Response(page, status=status, mimetype="text/html")
    error = {"code": "Internal Server Error", "description": "Internal Server Error"}
    return json_response({root: {"result": None, "error": error}}, status=500)
