"""Show a job's progress from its status answers: a live bar, or plain lines."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

PLAIN_EVERY_SECONDS = 5.0


class LiveProgress:
    """A progress bar redrawn in place; use it as a context manager."""

    def __init__(self, console: Console):
        self._progress = Progress(
            TextColumn("[bold]{task.fields[status]:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("stocks, {task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]:.1f}/s"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._progress.add_task(
            "job", total=None, status="starting", failed=0, rate=0.0
        )

    def __enter__(self) -> LiveProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def update(self, job: dict[str, Any]) -> None:
        """Show one status answer."""
        progress = job["progress"]
        self._progress.update(
            self._task,
            total=progress["total"] or None,
            completed=progress["processed"],
            status=job["status"],
            failed=progress["failed"],
            rate=progress["stocks_per_second"],
        )


class PlainProgress:
    """One line per change at most every few seconds, and one for the final answer."""

    def __init__(self, console: Console):
        self._console = console
        self._last_shown = 0.0
        self._last_line = ""

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, job: dict[str, Any]) -> None:
        """Print the answer if it is final, or if it changed and time has passed."""
        progress = job["progress"]
        line = (
            f"progress: {job['status']} {progress['processed']}/{progress['total']} "
            f"stocks ({progress['progress_percentage']:.0f} %), "
            f"{progress['failed']} failed"
        )
        final = job["summary"] is not None
        due = time.monotonic() - self._last_shown >= PLAIN_EVERY_SECONDS
        if final or (due and line != self._last_line):
            self._console.print(line, highlight=False)
            self._last_shown, self._last_line = time.monotonic(), line
