"""The health check: can the API reach what it needs? No API key required."""

from __future__ import annotations

import logging

import psycopg
from flask import Blueprint, current_app, jsonify

from api.auth import public
from api.services import services
from kabuflow.errors import AirflowApiError
from kabuflow.sqlfiles import load_sql

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__, url_prefix="/api")

DATABASE_TIMEOUT_SECONDS = 3
HEALTHY = ("ok", "disabled")
AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "dag_processor")


@bp.get("/health")
@public
def health():
    """Answer 200 when the database and Airflow answer, 503 naming what does not."""
    checks = {"database": _database(), "airflow": _airflow()}

    if all(result in HEALTHY for result in checks.values()):
        return jsonify({"success": True, "status": "healthy", "checks": checks})
    body = {
        "success": False,
        "error": "SERVICE_UNAVAILABLE",
        "message": "a service the API needs is not available",
        "checks": checks,
    }
    return jsonify(body), 503


def _database() -> str:
    if not current_app.config["ENABLE_PHASE2"]:
        return "disabled"
    url = current_app.config["DATABASE_URL"]
    try:
        # A fresh connection, not the pool: the check is about reaching the server now.
        with psycopg.connect(url, connect_timeout=DATABASE_TIMEOUT_SECONDS) as conn:
            conn.execute(load_sql("health_ping"))
    except psycopg.Error as err:
        log.warning("health: database unreachable: %s", err)
        return "unreachable"
    return "ok"


def _airflow() -> str:
    try:
        report = services().airflow().health()
    except AirflowApiError as err:
        log.warning("health: Airflow unreachable: %s", err)
        return "unreachable"
    return airflow_check(report)


def airflow_check(report: dict) -> str:
    """Return "ok" when every component of Airflow's health report kabuflow needs is.

    The dag-processor counts: it parses new DAG files and runs the DAG-level
    callbacks that close the batch of a run that died.
    """
    unhealthy = [c for c in AIRFLOW_COMPONENTS if _status(report, c) != "healthy"]
    if unhealthy:
        log.warning("health: Airflow's %s not healthy", ", ".join(unhealthy))
        return "unhealthy"
    return "ok"


def _status(report: dict, component: str) -> str | None:
    return (report.get(component) or {}).get("status")
