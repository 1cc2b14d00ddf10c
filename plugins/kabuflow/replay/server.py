"""Run the replay server: in the foreground (the CLI) or in a background thread.

Local development and tests only: plain HTTP, no authentication on `/__replay/`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from kabuflow.replay.app import create_app
from kabuflow.replay.scenario import Scenario, parse_instant
from kabuflow.replay.sources import load_store
from kabuflow.replay.state import ReplayState
from kabuflow.replay.store import PriceStore

log = logging.getLogger(__name__)

REPO_DIR = Path(__file__).resolve().parents[3]
SAMPLE_DIR = REPO_DIR / "data" / "sample"
# Later sources win per symbol: the full 7203.T history replaces its two sample years.
SAMPLE_SOURCES = (
    SAMPLE_DIR / "tse_unadjusted_2016_2020",
    SAMPLE_DIR / "tse_daily_sample.parquet",
    SAMPLE_DIR / "tse_full_history",
)
# The recorded universe (3,768 Tokyo symbols, two years daily, 1.8 million bars) is
# too large to ship: tests and benchmarks serve it when the workplace's shared data
# set is on the machine, beside the repository or where the variable says.
UNIVERSE_VARIABLE = "KABUFLOW_UNIVERSE_PARQUET"
UNIVERSE_FILE = "tse_daily_2020-09_2022-09.parquet"
UNIVERSE_PLACES = (REPO_DIR.parent / "shared" / "data", Path("/work/shared/data"))


def recorded_universe(environ: Mapping[str, str] | None = None) -> Path:
    """Return the universe file: the variable's, else the first place holding it.

    The path returned may not exist (the first place is named then): check it.
    """
    env = os.environ if environ is None else environ
    if env.get(UNIVERSE_VARIABLE):
        return Path(env[UNIVERSE_VARIABLE])
    candidates = [place / UNIVERSE_FILE for place in UNIVERSE_PLACES]
    return next((path for path in candidates if path.exists()), candidates[0])


class _QuietHandler(WSGIRequestHandler):
    """Log each request at DEBUG: a benchmark makes thousands of them."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug('"%s" %s %s', self.requestline, code, size)


class ReplayServer:
    """A Yahoo-compatible server over recorded prices, for tests, demos, benchmarks.

    `data`: parquet/CSV files or directories (default: the project's `data/sample`),
    later ones winning per symbol; or pass a ready `store` to share one between
    servers. `scenario`: a `Scenario` or its JSON as a dict. `now`: the clock (ISO
    8601 string or epoch seconds). `port=0` picks a free port.
    """

    def __init__(
        self,
        data: Sequence[str | Path] | None = None,
        scenario: Scenario | Mapping[str, Any] | None = None,
        now: str | int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        store: PriceStore | None = None,
    ):
        self.store = store if store is not None else load_store(data or SAMPLE_SOURCES)
        if scenario is not None and not isinstance(scenario, Scenario):
            scenario = Scenario.from_dict(scenario)
        clock = None if now is None else parse_instant(now, "now")
        self.state = ReplayState(self.store, scenario, clock)
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the replay server is not running")
        return f"http://{self._host}:{self._server.server_port}"

    def set_scenario(self, scenario: Scenario | Mapping[str, Any]) -> None:
        """Replace the scenario of the running server (as `PUT /__replay/scenario`)."""
        if not isinstance(scenario, Scenario):
            scenario = Scenario.from_dict(scenario)
        self.state.set_scenario(scenario)

    def start(self) -> str:
        """Start serving in a background thread; return the base URL."""
        self._server = self._bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="replay-server", daemon=True
        )
        self._thread.start()
        log.info("replay server on %s with %s symbols", self.url, len(self.store))
        return self.url

    def stop(self) -> None:
        """Stop serving and release the port (a no-op when not running)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve for the duration of a `with` block; yield the base URL."""
        url = self.start()
        try:
            yield url
        finally:
            self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C)."""
        self._server = self._bind()
        log.info("replay server on %s with %s symbols", self.url, len(self.store))
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self._server = None

    def _bind(self) -> BaseWSGIServer:
        app = create_app(self.state)
        return make_server(
            self._host,
            self._port,
            app,
            threaded=True,
            request_handler=_QuietHandler,
        )
