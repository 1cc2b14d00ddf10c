"""The Yahoo source: fetch one symbol's bars through yfinance, or fail with a reason.

yfinance runs unchanged; the source owns the HTTP session it gives to every call
(`kabuflow.yahoo_session.make_session`, which sends everything to the replay server
when a base URL is set), controls yfinance's process-wide state
(`kabuflow.yfinance_state`) and translates every failure into kabuflow's errors
(`kabuflow.source_errors`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import yfinance

from kabuflow import calendars, yfinance_state
from kabuflow.errors import (
    CalendarRangeError,
    InvalidRequestError,
    SourceConfigurationError,
)
from kabuflow.intervals import FetchWindow, check_window
from kabuflow.settings import get_settings
from kabuflow.source_errors import Exchange, empty_result, translate
from kabuflow.symbols import normalize_symbol
from kabuflow.yahoo_session import make_session
from kabuflow.yfinance_state import clear_response_cache, configure_yfinance

log = logging.getLogger(__name__)

# Passed on every call, so a change of yfinance's defaults cannot change our data:
# raw OHLC plus `Adj Close`, dividends and splits as columns, no repair, no rounding,
# regular session only, rows that are entirely empty dropped.
HISTORY_OPTIONS = {
    "auto_adjust": False,
    "back_adjust": False,
    "actions": True,
    "repair": False,
    "rounding": False,
    "prepost": False,
    "keepna": False,
}
# yfinance's columns with `auto_adjust=False, actions=True` (plus `Capital Gains`
# for funds).
FRAME_COLUMNS = (
    "Open", "High", "Low", "Close", "Adj Close", "Volume", "Dividends", "Stock Splits",
)  # fmt: skip


@dataclass(frozen=True)
class FetchResult:
    """One symbol's answer: the frame exactly as yfinance returned it.

    `exchange_tz` comes from Yahoo's metadata (None when no request was made).
    `no_data_expected` is True when the window holds no trading session: Yahoo was
    not asked and the frame is empty, with yfinance's columns and a UTC index.
    `fetched_at` is UTC; `http_requests` counts the requests the fetch made.
    """

    symbol: str
    interval: str
    window: FetchWindow
    frame: pd.DataFrame = field(repr=False)
    exchange_tz: str | None
    fetched_at: dt.datetime
    no_data_expected: bool
    http_requests: int = 0


class YahooSource:
    """Fetch bars from Yahoo (or the replay server at `base_url`) through yfinance.

    `base_url` and `timeout` (seconds) default to `KABUFLOW_YAHOO_URL` and
    `KABUFLOW_YAHOO_TIMEOUT`. `observer`, if given, sees every HTTP exchange.
    Fetches in one process run one at a time (see `kabuflow.yfinance_state`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float | None = None,
        observer: Callable[[Exchange], None] | None = None,
    ):
        settings = get_settings()
        self.base_url = base_url if base_url is not None else settings.yahoo_url
        self.timeout = timeout if timeout is not None else settings.yahoo_timeout
        configure_yfinance()
        self._session = make_session(self.base_url, self.timeout)
        self._exchanges: list[Exchange] = []
        self._observer = observer
        _observe(self._session, self._record)

    def _record(self, exchange: Exchange) -> None:
        self._exchanges.append(exchange)
        if self._observer is not None:
            self._observer(exchange)

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def __enter__(self) -> YahooSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def fetch(
        self, symbol: str, window: FetchWindow, now: dt.datetime | None = None
    ) -> FetchResult:
        """Fetch `symbol`'s bars for `window` as of `now` (default: now, UTC).

        Raises `InvalidRequestError` before any request for a symbol that is not
        normalized or a window past Yahoo's limits; a `SourceError` (retryable or
        permanent) for every failure, including `EmptyResultError` when Yahoo sends
        no rows for a window that holds sessions: an empty frame is never success.
        """
        now = _utc(now)
        _check_symbol(symbol)
        check_window(window, now.date())
        if _expects_no_data(symbol, window, now):
            log.info("%s has no session in %s: not asking Yahoo", symbol, _span(window))
            return _no_data_result(symbol, window, now)

        started = time.monotonic()
        frame, exchange_tz, http_requests = self._history(symbol, window)
        log.info(
            "fetched %s rows for %s %s in %.2f s (%s requests)",
            len(frame),
            symbol,
            window.interval,
            time.monotonic() - started,
            http_requests,
        )
        return FetchResult(
            symbol=symbol,
            interval=window.interval,
            window=window,
            frame=frame,
            exchange_tz=exchange_tz,
            fetched_at=now,
            no_data_expected=False,
            http_requests=http_requests,
        )

    def _history(self, symbol: str, window: FetchWindow):
        configure_yfinance()
        with yfinance_state.YFINANCE_LOCK, yfinance_state.quiet_yfinance_warnings():
            self._exchanges.clear()
            clear_response_cache()
            try:
                ticker = yfinance.Ticker(symbol, session=self._session)
            except Exception as err:
                raise SourceConfigurationError(
                    f"{symbol}: yfinance refused the session: {err}", symbol
                ) from err
            try:
                frame = ticker.history(
                    **_window_arguments(window), timeout=self.timeout, **HISTORY_OPTIONS
                )
                metadata = ticker.get_history_metadata()
            except Exception as err:
                raise translate(err, symbol, tuple(self._exchanges)) from err
            http_requests = len(self._exchanges)
        if frame.empty:
            raise empty_result(symbol, f"{window.interval} {_span(window)}")
        return frame, metadata.get("exchangeTimezoneName"), http_requests


def _observe(session, record: Callable[[Exchange], None]) -> None:
    # yfinance swallows HTTP status codes; recording each answer lets the error
    # translation tell a 404 from a 422 from a 500.
    send = session.request

    def request(method, url, *args, **kwargs):
        response = send(method, url, *args, **kwargs)
        record(Exchange(str(response.url), response.status_code))
        return response

    session.request = request


def _window_arguments(window: FetchWindow) -> dict:
    arguments = {"interval": window.interval}
    if window.period is not None:
        arguments["period"] = window.period
    else:
        arguments["start"] = window.start
        arguments["end"] = window.end
    return arguments


def _expects_no_data(symbol: str, window: FetchWindow, now: dt.datetime) -> bool:
    # A period always reaches back to the last session, so Yahoo always has rows;
    # a session that has not opened by `now` has no bars yet.
    if window.period is not None or calendars.calendar_name(symbol) is None:
        return False
    try:
        days = calendars.sessions(symbol, window.start, window.end)
    except CalendarRangeError:
        return False
    return not any(calendars.session_open(symbol, day) <= now for day in days)


def _no_data_result(symbol: str, window: FetchWindow, now: dt.datetime) -> FetchResult:
    name = "Datetime" if window.is_intraday else "Date"
    index = pd.DatetimeIndex([], tz="UTC", name=name)
    frame = pd.DataFrame(columns=FRAME_COLUMNS, index=index, dtype="float64")
    return FetchResult(
        symbol=symbol,
        interval=window.interval,
        window=window,
        frame=frame,
        exchange_tz=None,
        fetched_at=now,
        no_data_expected=True,
    )


def _utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise InvalidRequestError("now", f"{now} has no time zone")
    return now.astimezone(dt.UTC)


def _check_symbol(symbol: str) -> None:
    if normalize_symbol(symbol) != symbol:
        raise InvalidRequestError(
            "symbol", f"{symbol!r} is not normalized (kabuflow.symbols)"
        )


def _span(window: FetchWindow) -> str:
    if window.period is not None:
        return f"period {window.period}"
    return f"{window.start} to {window.end} (exclusive)"
