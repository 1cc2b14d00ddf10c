"""Fetch one symbol's bars and store them: the single implementation every entry uses.

`fetch_symbol` is fetch, normalize, store; when the store sees a split or dividend it
did not know, the symbol's whole daily history is fetched and stored again, because
a corporate action changes every earlier adjusted price and fetching only new dates
would never repair them (case Y8). A window without a trading session is an outcome
("no data expected"), not an error. A session of the symbol's exchange calendar that
Yahoo sent no daily bar for, between the first and the last bar it sent, is reported
as missing (case Y10): logged, and listed in the outcome. Holidays are not sessions,
so they are never reported; days before the first bar or after the last are not
judged, since a listing or a delisting explains them as well as a gap does.

`fetch_group` runs `fetch_symbol` for several symbols, each on its own: one symbol's
failure is recorded and the next symbol goes ahead.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kabuflow import calendars
from kabuflow.errors import CalendarRangeError, KabuflowError
from kabuflow.intervals import FetchWindow
from kabuflow.normalize import normalize_bars

log = logging.getLogger(__name__)

HISTORY_PERIOD = "max"


@dataclass(frozen=True)
class SymbolOutcome:
    """What fetching one symbol did to the database.

    `no_data_expected` is True when the window held no trading session (nothing was
    asked or stored). `history_refetched` is True when a new corporate action made
    the pipeline fetch and store the whole history; the counts then add up both
    stores, except `unchanged`, which is the full history's. `missing_sessions`
    are the exchange-local dates of sessions Yahoo sent no daily bar for.
    """

    symbol: str
    interval: str
    no_data_expected: bool = False
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    new_actions: int = 0
    history_refetched: bool = False
    missing_sessions: tuple[dt.date, ...] = ()

    def as_dict(self) -> dict:
        """Return the outcome as JSON-ready values."""
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "no_data_expected": self.no_data_expected,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "new_actions": self.new_actions,
            "history_refetched": self.history_refetched,
            "missing_sessions": [day.isoformat() for day in self.missing_sessions],
        }


@dataclass
class GroupResult:
    """Per-symbol results of `fetch_group`: an outcome or the error, never both."""

    outcomes: dict[str, SymbolOutcome] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)


def fetch_symbol(
    symbol: str,
    window: FetchWindow,
    *,
    source,
    store,
    now: dt.datetime | None = None,
) -> SymbolOutcome:
    """Fetch `symbol` for `window` through `source`, store it with `store`.

    `symbol` must be normalized; `now` (UTC, default the current time) decides which
    bars are final. Raises the source's and the store's errors unchanged: a
    `RetryableError` or `PermanentError` subclass.
    """
    now = now or dt.datetime.now(dt.UTC)
    result = source.fetch(symbol, window, now=now)
    if result.no_data_expected:
        log.info("%s %s: no session in the window, nothing to store", symbol, window)
        return SymbolOutcome(symbol, window.interval, no_data_expected=True)

    stored = store.store(_bars(result, now))
    missing = missing_sessions(result)
    if not stored.new_actions or not _history_can_be_refetched(window):
        return _outcome(symbol, window.interval, missing, stored)

    log.info(
        "%s: %s new corporate action(s), fetching the whole history again",
        symbol,
        stored.new_actions,
    )
    history = source.fetch(symbol, _history_window(window), now=now)
    again = store.store(_bars(history, now))
    return _outcome(symbol, window.interval, missing, stored, again)


def fetch_group(
    symbols: Iterable[str],
    window: FetchWindow,
    *,
    source,
    store,
    now: dt.datetime | None = None,
    report: Callable[[str, SymbolOutcome | Exception], None] | None = None,
) -> GroupResult:
    """Fetch every symbol independently; return each one's outcome or error.

    `report`, if given, is called after each symbol with its outcome or error, so a
    caller can record progress before the whole group is done. Any exception of one
    symbol is kept in `errors` (unexpected ones are logged with their traceback) and
    the next symbol goes ahead.
    """
    group = GroupResult()
    for symbol in symbols:
        try:
            outcome = fetch_symbol(symbol, window, source=source, store=store, now=now)
        except Exception as err:
            _log_error(symbol, err)
            group.errors[symbol] = err
            result = err
        else:
            group.outcomes[symbol] = outcome
            result = outcome
        if report is not None:
            report(symbol, result)
    return group


def _bars(result, now: dt.datetime):
    return normalize_bars(
        result.frame,
        symbol=result.symbol,
        interval=result.interval,
        exchange_tz=result.exchange_tz,
        now=now,
        session_close=functools.partial(calendars.session_close, result.symbol),
    )


def missing_sessions(result) -> tuple[dt.date, ...]:
    """Return the sessions Yahoo sent no daily bar for, between its first and last.

    `result` is a `FetchResult`. Logs what it finds as a warning; returns () for
    other intervals, for symbols without a calendar and for spans the calendars do
    not cover.
    """
    if result.interval != "1d" or calendars.calendar_name(result.symbol) is None:
        return ()
    index = result.frame.index
    if len(index) < 2:
        return ()
    zone = result.exchange_tz or index.tz
    sent = sorted(set(index.tz_convert(zone).date))
    try:
        missing = calendars.missing_sessions(
            result.symbol, sent, sent[0], sent[-1] + dt.timedelta(days=1)
        )
    except CalendarRangeError as err:
        log.info(
            "%s: no calendar for its whole span (%s), gaps not checked",
            result.symbol,
            err,
        )
        return ()
    if missing:
        log.warning(
            "%s: Yahoo sent no bar for %d session(s) of its exchange: %s",
            result.symbol,
            len(missing),
            ", ".join(day.isoformat() for day in missing[:10]),
        )
    return tuple(missing)


def _history_can_be_refetched(window: FetchWindow) -> bool:
    # Yahoo serves intraday bars for a recent past only: there is no history to
    # repair beyond what the window asked for.
    return window.period != HISTORY_PERIOD and not window.is_intraday


def _history_window(window: FetchWindow) -> FetchWindow:
    return FetchWindow(window.interval, period=HISTORY_PERIOD)


def _outcome(symbol: str, interval: str, missing, *results) -> SymbolOutcome:
    return SymbolOutcome(
        symbol,
        interval,
        inserted=sum(result.inserted for result in results),
        updated=sum(result.updated for result in results),
        unchanged=results[-1].unchanged,
        rejected=results[-1].rejected,
        new_actions=results[0].new_actions,
        history_refetched=len(results) > 1,
        missing_sessions=missing,
    )


def _log_error(symbol: str, err: Exception) -> None:
    if isinstance(err, KabuflowError):
        log.warning("%s failed: %s: %s", symbol, type(err).__name__, err)
    else:
        log.error("%s failed unexpectedly", symbol, exc_info=err)
