"""Import what a fetch task needs before the scheduler forks its task processes.

With the LocalExecutor every task process is forked from a worker that the scheduler
forked at start. A fetch task imports pandas, pyarrow, yfinance, curl_cffi and the
exchange calendars: seconds of CPU per task when each process does it alone, which in
per-stock mode (one task per symbol) costs more than the fetch itself. Imported once in
the scheduler, they reach every task process through fork for free. So do the trading
calendars, built here too: about 0.4 s per calendar, once, instead of in every task.

Nothing here opens a connection or a session: a fork must not share one.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time

log = logging.getLogger(__name__)

TASK_MODULES = (
    "kabuflow.fetch_tasks",
    "kabuflow.pipeline",
    "kabuflow.source",
    "kabuflow.store",
    "kabuflow.calendars",
    "kabuflow.daily_plan",
)


def is_scheduler(argv: list[str] | None = None) -> bool:
    """Tell whether this process is `airflow scheduler` (the parent of every task)."""
    args = sys.argv if argv is None else argv
    return len(args) > 1 and args[1] == "scheduler"


def warm_task_imports() -> float:
    """Import every module a fetch task uses, build the calendars; return seconds."""
    started = time.monotonic()
    for name in TASK_MODULES:
        importlib.import_module(name)
    calendars = importlib.import_module("kabuflow.calendars").build_calendars()
    seconds = time.monotonic() - started
    log.info(
        "task modules imported and calendars %s built in %.1f s, before any task "
        "process forks",
        ", ".join(calendars),
        seconds,
    )
    return seconds
