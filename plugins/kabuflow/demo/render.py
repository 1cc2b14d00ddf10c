"""Print the demo's closing report: the job, its rows, the views, and what next."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from kabuflow.demo.report import Analytics, BatchOutcome
from kabuflow.settings import redact_url

RESULT_PREFIX = "DEMO_RESULT "


def print_summary(
    console: Console, job: dict[str, Any], outcome: BatchOutcome, asked: int
) -> None:
    """Print the job's final state and what its batch record says it stored."""
    summary = job["summary"] or {}
    console.rule(f"job {job['id']} (batch {job['batch_db_id']}): {job['status']}")
    console.print(
        f"stocks    {asked} asked, {outcome.successful} successful, "
        f"{outcome.failed} failed, {outcome.unfinished} unfinished",
        highlight=False,
    )
    console.print(
        f"rows      {outcome.rows_inserted:,} inserted and {outcome.rows_updated:,} "
        f"updated by this run; {outcome.rows_stored:,} daily bars stored for these "
        "symbols",
        highlight=False,
    )
    console.print(
        f"duration  {summary.get('duration_seconds', 0):.1f} s in Airflow",
        highlight=False,
    )
    if outcome.failures:
        console.print(_table("failures (symbol: reason)", outcome.failures))


def print_analytics(console: Console, views: Analytics) -> None:
    """Print a few rows of each shipped view (`sql/migrations/0004*`)."""
    console.rule("SQL analytics views")
    console.print(
        _table(
            "latest_closes: newest close per symbol",
            [(s, n, d, f"{c:,.1f}", f"{v:,}") for s, n, d, c, v in views.latest_closes],
            ("symbol", "name", "date", "close", "volume"),
        )
    )
    console.print(
        _table(
            "daily_returns: biggest moves on the newest date",
            [(s, n, d, f"{r:+.2%}") for s, n, d, r in views.biggest_moves],
            ("symbol", "name", "date", "return"),
        )
    )
    console.print(
        _table(
            "batch_history: newest runs",
            [_history_row(row) for row in views.batch_history],
            ("batch", "job id", "status", "stocks", "failed", "seconds", "fail rate"),
        )
    )
    console.print(
        _table(
            "stock_failure_counts: most failed symbols",
            views.failure_counts,
            ("symbol", "failures", "latest reason"),
        )
    )


def print_next_steps(console: Console, facts: dict[str, str]) -> None:
    """Print where to look next and how to stop everything."""
    console.rule("next")
    console.print(
        f"Airflow UI  {facts['airflow_url']}  user admin, password "
        f"{facts['admin_password']}  ({facts['passwords_file']})",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"REST API    {facts['api_url']}  header X-API-KEY ({facts['api_key_file']})",
        highlight=False,
    )
    console.print(
        f'  curl -H "X-API-KEY: $(cat {facts["api_key_file"]})" '
        f"{facts['api_url']}/api/bulk/status/{facts['batch_db_id']}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"SQL         psql {redact_url(facts['database_url'])} "
        "-c 'SELECT * FROM batch_history ORDER BY batch_id DESC LIMIT 10'",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"logs        {facts['logs']}", highlight=False)
    console.print("stop        make down", highlight=False)


def print_result(console: Console, result: dict[str, Any]) -> None:
    """Print the one machine-readable line: `DEMO_RESULT` and a JSON object."""
    console.print(
        RESULT_PREFIX + json.dumps(result, default=str),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _table(title: str, rows, columns: tuple[str, ...] | None = None) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        show_header=columns is not None,
        min_width=len(title),
    )
    for name in columns or ("", ""):
        table.add_column(name, overflow="fold")
    for row in rows or [("(none)",) + ("",) * (len(columns or ("", "")) - 1)]:
        table.add_row(*("" if value is None else str(value) for value in row))
    return table


def _history_row(row: tuple) -> tuple:
    batch_id, job_id, status, total, failed, seconds, rate = row
    seconds = "" if seconds is None else f"{seconds:.1f}"
    rate = "" if rate is None else f"{rate:.2%}"
    return batch_id, job_id, status, total, failed, seconds, rate
