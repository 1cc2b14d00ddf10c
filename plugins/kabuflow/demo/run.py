"""Run the whole demo: bring everything up, fetch through the API, report from SQL."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from kabuflow.demo.client import BulkApiClient
from kabuflow.demo.config import DemoConfig
from kabuflow.demo.progress import LiveProgress, PlainProgress
from kabuflow.demo.render import (
    print_analytics,
    print_next_steps,
    print_result,
    print_summary,
)
from kabuflow.demo.report import analytics, batch_outcome
from kabuflow.demo.request import choose_symbols, request_body
from kabuflow.demo.services import DemoError, DemoServices, shown_path

PLAIN_WIDTH = 120


def make_console(plain: bool) -> Console:
    """Return the console: plain means no colour, no redraw, a fixed width."""
    if plain:
        return Console(no_color=True, highlight=False, width=PLAIN_WIDTH, emoji=False)
    return Console()


def run_demo(config: DemoConfig, plain: bool) -> int:
    """Run the demo; return 0 when the job completed with every stock final."""
    console = make_console(plain)
    started = time.monotonic()
    services = DemoServices(config, say=lambda line: console.print(line, markup=False))
    api_url = _bring_up(services)

    symbols = choose_symbols(config)
    body = request_body(config, symbols)
    console.print(
        f"asking for {len(symbols)} symbols, {_window(body)}, "
        f"{config.symbols_per_task} per Airflow task",
        highlight=False,
    )
    job = _fetch(console, plain, BulkApiClient(api_url, services.api_key()), body)

    outcome = batch_outcome(config.database_url, job["batch_db_id"], symbols)
    views = analytics(config.database_url, symbols)
    print_summary(console, job, outcome, len(symbols))
    print_analytics(console, views)
    print_next_steps(console, _next_steps(services, job))
    result = _result(job, outcome, views, len(symbols), time.monotonic() - started)
    print_result(console, result)
    return 0 if result["ok"] else 1


def _bring_up(services: DemoServices) -> str:
    services.prepare_database()
    if not services.config.live:
        services.start_replay()
    services.start_airflow()
    return services.start_api()


def _fetch(
    console: Console, plain: bool, client: BulkApiClient, body: dict[str, Any]
) -> dict[str, Any]:
    with client:
        accepted = client.start(body)
        if accepted.get("batch_db_id") is None:
            raise DemoError(
                "the demo reads the batch record: run it with ENABLE_PHASE2=true"
            )
        console.print(
            f"POST /api/bulk/start -> job {accepted['job_id']}, "
            f"batch {accepted['batch_db_id']}",
            highlight=False,
        )
        display = PlainProgress(console) if plain else LiveProgress(console)
        with display:
            return client.watch(accepted["job_id"], display.update)


def _window(body: dict[str, Any]) -> str:
    if body.get("period"):
        return f"{body['interval']} bars over the last {body['period']}"
    return f"{body['interval']} bars from {body['start']} to {body['end']} (exclusive)"


def _next_steps(services: DemoServices, job: dict[str, Any]) -> dict[str, str]:
    config = services.config
    return {
        "airflow_url": config.stack.api_url,
        "admin_password": services.admin_password(),
        "passwords_file": shown_path(config.stack.passwords_file),
        "api_url": config.api_url,
        "api_key_file": shown_path(config.api_key_file),
        "batch_db_id": str(job["batch_db_id"]),
        "database_url": config.database_url,
        "logs": f"{shown_path(config.log_dir)}/, {shown_path(services.stack_logs)}/",
    }


def _result(job, outcome, views, asked: int, seconds: float) -> dict[str, Any]:
    final = outcome.successful + outcome.failed
    return {
        "ok": job["status"] == "completed"
        and outcome.unfinished == 0
        and final == asked,
        "status": job["status"],
        "job_id": job["id"],
        "batch_db_id": job["batch_db_id"],
        "symbols": asked,
        "successful": outcome.successful,
        "failed": outcome.failed,
        "unfinished": outcome.unfinished,
        "rows_inserted": outcome.rows_inserted,
        "rows_updated": outcome.rows_updated,
        "rows_stored": outcome.rows_stored,
        "job_seconds": (job["summary"] or {}).get("duration_seconds"),
        "demo_seconds": round(seconds, 1),
        "latest_closes": [
            [symbol, date.isoformat(), close]
            for symbol, _name, date, close, _volume in views.latest_closes
        ],
        "failures": [[symbol, reason] for symbol, reason in outcome.failures],
    }
