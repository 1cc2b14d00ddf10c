"""Choose what the demo asks for: which symbols, over which two years."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from kabuflow.demo.config import DemoConfig
from kabuflow.demo.services import DemoError
from kabuflow.stock_master import active_universe

YEARS = 2
INTERVAL = "1d"


def choose_symbols(config: DemoConfig) -> list[str]:
    """Return up to `config.symbols` active Tokyo shares of the stock master, by code.

    Offline, only those the replay server holds prices for (it serves the bundled
    sample), so every symbol asked for can succeed.
    """
    universe = active_universe(config.database_url)
    if not config.live:
        held = replayed_symbols()
        universe = [symbol for symbol in universe if symbol in held]
    if not universe:
        raise DemoError("the stock master holds no symbol the demo could fetch")
    return universe[: config.symbols]


def replayed_symbols() -> set[str]:
    """Return the symbols the replay server serves by default (`data/sample`)."""
    from kabuflow.replay.server import SAMPLE_SOURCES
    from kabuflow.replay.sources import load_store

    return set(load_store(SAMPLE_SOURCES).symbols())


def request_body(config: DemoConfig, symbols: list[str]) -> dict[str, Any]:
    """Return the `POST /api/bulk/start` body: two years of daily bars.

    Live, that is Yahoo's `2y` period; offline, the two years before the replay
    server's clock, which stands at the end of its recorded data.
    """
    body: dict[str, Any] = {
        "symbols": symbols,
        "interval": INTERVAL,
        "symbols_per_task": config.symbols_per_task,
    }
    if config.live:
        return {**body, "period": f"{YEARS}y"}
    end = replay_today(config.replay_url)
    return {
        **body,
        "start": _years_before(end, YEARS).isoformat(),
        "end": end.isoformat(),
    }


def replay_today(replay_url: str) -> dt.date:
    """Return the replay server's current date (UTC)."""
    try:
        response = httpx.get(f"{replay_url}/__replay/health", timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise DemoError(
            f"the replay server at {replay_url} did not answer: {exc}"
        ) from exc
    now = dt.datetime.fromisoformat(response.json()["now"].replace("Z", "+00:00"))
    return now.date()


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)
