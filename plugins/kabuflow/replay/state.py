"""What one replay server holds: the prices, the scenario, the clock and the counts.

Shared by every request thread; the scenario is replaced whole, never edited, so a
request sees one consistent scenario.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict

from flask import current_app

from kabuflow.replay.scenario import Scenario
from kabuflow.replay.store import PriceSeries, PriceStore

DEFAULT_SECRET = b"kabuflow-replay"
EXTENSION = "kabuflow_replay"


class ReplayState:
    """Prices, scenario, clock and request statistics of one replay server.

    `now` (epoch seconds) defaults to 00:00 UTC of the day after the last recorded
    bar, so `range=1y` returns real bars. The `secret` signs cookies and crumbs; it
    is fixed by default so clients keep working across server restarts, as Yahoo's
    crumbs outlive any one Yahoo server.
    """

    def __init__(
        self,
        store: PriceStore,
        scenario: Scenario | None = None,
        now: int | None = None,
        secret: bytes = DEFAULT_SECRET,
    ):
        self.store = store
        self.secret = secret
        self._default_now = default_clock(store) if now is None else now
        self._lock = threading.Lock()
        self._scenario = scenario or Scenario()
        self._chart_requests = 0
        self._counts: Counter[str] = Counter()
        self._by_symbol: defaultdict[str, Counter[str]] = defaultdict(Counter)

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    def set_scenario(self, scenario: Scenario) -> None:
        """Replace the scenario; chart request numbers start again at 1."""
        with self._lock:
            self._scenario = scenario
            self._chart_requests = 0

    def now(self) -> int:
        """Return the server's clock: the scenario's, else the default one."""
        scenario_now = self._scenario.now
        return self._default_now if scenario_now is None else scenario_now

    def series(self, symbol: str) -> PriceSeries | None:
        """Return `symbol`'s bars as the current scenario serves them, or None."""
        recorded = self.store.get(symbol)
        return None if recorded is None else self._scenario.apply(recorded)

    def next_chart_request(self) -> int:
        """Count a chart request and return its number since the scenario was set."""
        with self._lock:
            self._chart_requests += 1
            return self._chart_requests

    def record(self, route: str, status: int, symbol: str | None, kinds: list[str]):
        """Count one answered request by route, status and symbol."""
        with self._lock:
            self._counts["requests"] += 1
            self._counts[f"route {route}"] += 1
            self._counts[f"status {status}"] += 1
            if symbol is not None:
                self._by_symbol[symbol].update(kinds)

    def stats(self) -> dict:
        """Return request counts: total, per route, per status and per symbol."""
        with self._lock:
            return {
                "requests": self._counts["requests"],
                "by_route": _section(self._counts, "route "),
                "by_status": _section(self._counts, "status "),
                "by_symbol": {s: dict(c) for s, c in sorted(self._by_symbol.items())},
                "chart_requests_since_scenario": self._chart_requests,
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._counts.clear()
            self._by_symbol.clear()


def default_clock(store: PriceStore) -> int:
    """Return 00:00 UTC of the day after the store's last bar (or of today)."""
    last = store.last_date() or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    midnight = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    return int(midnight.timestamp())


def current_state() -> ReplayState:
    """Return the state of the replay app handling the current request."""
    return current_app.extensions[EXTENSION]


def _section(counts: Counter[str], prefix: str) -> dict[str, int]:
    return {
        key[len(prefix) :]: value
        for key, value in sorted(counts.items())
        if key.startswith(prefix)
    }
