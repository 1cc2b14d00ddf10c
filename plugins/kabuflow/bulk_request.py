"""Validate and normalize a bulk fetch request: the REST API and `bulk_fetch` share it.

A request is a mapping (a JSON body or a DAG run's conf) with:

- `symbols`: a list of 1 to `KABUFLOW_MAX_SYMBOLS` Yahoo symbols (normalized and
  de-duplicated by `kabuflow.symbols`);
- `interval`: a Yahoo interval (`60m` is read as `1h`);
- either `period` or both `start` and `end` (`YYYY-MM-DD`, `end` exclusive), checked
  against Yahoo's limits for the interval;
- `batch_id`: the batch record the caller created already, or null;
- `symbols_per_task`: how many symbols one Airflow task fetches, 1 to 500 (default 1).

Keys not listed are ignored. Every refusal raises `InvalidRequestError` naming the
field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kabuflow.errors import InvalidRequestError
from kabuflow.intervals import FetchWindow, check_window
from kabuflow.settings import get_settings
from kabuflow.symbols import normalize_symbols

MAX_SYMBOLS_PER_TASK = 500
DEFAULT_SYMBOLS_PER_TASK = 1


@dataclass(frozen=True)
class BulkRequest:
    """A bulk fetch request that passed every check (see `parse_bulk_request`)."""

    symbols: tuple[str, ...]
    window: FetchWindow
    batch_id: int | None = None
    symbols_per_task: int = DEFAULT_SYMBOLS_PER_TASK

    def groups(self) -> list[list[str]]:
        """Return the symbols cut into consecutive groups of `symbols_per_task`."""
        size = self.symbols_per_task
        return [
            list(self.symbols[i : i + size]) for i in range(0, len(self.symbols), size)
        ]

    def to_conf(self) -> dict[str, Any]:
        """Return the request as a JSON-ready DAG run conf (normalized values)."""
        return {
            "symbols": list(self.symbols),
            **window_to_dict(self.window),
            "batch_id": self.batch_id,
            "symbols_per_task": self.symbols_per_task,
        }


def parse_bulk_request(
    raw: Any, *, max_symbols: int | None = None, today: dt.date | None = None
) -> BulkRequest:
    """Check `raw` and return it as a normalized `BulkRequest`.

    `max_symbols` defaults to the `KABUFLOW_MAX_SYMBOLS` setting and `today` (the
    date Yahoo's look-back limits count from) to the current UTC date. Raises
    `InvalidRequestError` naming the first offending field.
    """
    if not isinstance(raw, Mapping):
        raise InvalidRequestError("body", "expected a JSON object")
    limit = get_settings().max_symbols if max_symbols is None else max_symbols
    today = today or dt.datetime.now(dt.UTC).date()

    symbols = _symbols(raw.get("symbols"), limit)
    window = check_window(parse_window(raw), today)

    return BulkRequest(
        symbols=tuple(symbols),
        window=window,
        batch_id=_batch_id(raw.get("batch_id")),
        symbols_per_task=_symbols_per_task(raw.get("symbols_per_task")),
    )


def parse_window(raw: Mapping[str, Any]) -> FetchWindow:
    """Build the fetch window from a request's `interval`, `period`, `start`, `end`.

    Raises `InvalidRequestError` when the interval is missing or the combination is
    impossible; Yahoo's look-back limits are not checked here (see `check_window`).
    """
    if raw.get("interval") is None:
        raise InvalidRequestError("interval", "required")
    period, start, end = raw.get("period"), raw.get("start"), raw.get("end")
    if period is None and start is None and end is None:
        raise InvalidRequestError("period", "give a period, or start and end")
    return FetchWindow.parse(raw["interval"], period=period, start=start, end=end)


def window_to_dict(window: FetchWindow) -> dict[str, Any]:
    """Return the window as JSON-ready request fields (dates as `YYYY-MM-DD`)."""
    return {
        "interval": window.interval,
        "period": window.period,
        "start": None if window.start is None else window.start.isoformat(),
        "end": None if window.end is None else window.end.isoformat(),
    }


def _symbols(raw: Any, limit: int) -> list[str]:
    if raw is None:
        raise InvalidRequestError("symbols", "required")
    # Counted before normalizing, so an oversized list costs nothing to refuse.
    if isinstance(raw, list) and len(raw) > limit:
        raise InvalidRequestError(
            "symbols", f"{len(raw)} symbols, more than the maximum of {limit}"
        )
    symbols = normalize_symbols(raw)
    if not symbols:
        raise InvalidRequestError("symbols", "must name at least one symbol")
    return symbols


def _batch_id(raw: Any) -> int | None:
    if raw is None:
        return None
    if not _is_int(raw) or raw < 1:
        raise InvalidRequestError(
            "batch_id", f"expected a positive integer, got {raw!r}"
        )
    return raw


def _symbols_per_task(raw: Any) -> int:
    if raw is None:
        return DEFAULT_SYMBOLS_PER_TASK
    if not _is_int(raw) or not 1 <= raw <= MAX_SYMBOLS_PER_TASK:
        raise InvalidRequestError(
            "symbols_per_task",
            f"expected an integer from 1 to {MAX_SYMBOLS_PER_TASK}, got {raw!r}",
        )
    return raw


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as int.
    return isinstance(value, int) and not isinstance(value, bool)
