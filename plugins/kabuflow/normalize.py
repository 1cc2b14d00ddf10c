"""Turn one symbol's yfinance frame into bars and corporate actions fit to store.

The input is what `Ticker.history(auto_adjust=False, actions=True)` returns: a
tz-aware index, columns `Open High Low Close Adj Close Volume Dividends Stock Splits`
(maybe `Capital Gains`). The rules, in the order they apply:

1. A missing expected column is an error (`MissingColumnError`), never a NULL (Y4).
2. Rows sharing a bar (same local date; same instant intraday) collapse to the last
   one Yahoo sent, before anything else (Y5, D1). Corporate actions are read from
   every row first, so a dividend on a discarded duplicate is not lost.
3. A row without prices that only carries an action is an action, not a bar, and
   is not reported (yfinance adds such rows for actions on days without a bar).
4. A bar missing any of open, high, low or close is dropped and reported: it cannot
   be checked against the OHLC invariants, and a partial bar would make every range
   computed from it silently wrong. NaN is never written as 0 or as 'NaN'.
5. A bar without a volume is dropped and reported: storing 0 would claim nothing
   traded. Negative, fractional or out-of-range volumes are dropped and reported
   too. Zero volume (FX, quiet days) is stored as 0. Currency pairs (`=X`) are
   exempt (Y10): nobody counts what a currency trades, so Yahoo's volume there
   means nothing, and a missing one is stored as 0.
6. A bar breaking low <= min(open, close), high >= max(open, close) or low <= high
   by more than float noise (`OHLC_TOLERANCE`) is dropped and reported (Y6).
   Currency pairs keep a bar whose open or close lies outside its range (still
   reported, as `quote_outside_range`): Yahoo takes an FX bar's open and close as
   quotes at the day's edges and its high and low from another feed, so 92 of the
   1,284 real `JPYUSD=X` bars of 2016-2020 break that rule while being the very
   rates Yahoo publishes. Low above high is refused for them too.
7. A missing adjusted close on an otherwise sound bar is kept, with `adj_close`
   NaN (stored as NULL), and reported: the raw bar is complete, only the derived
   value is unknown.
8. A bar is final once its period is over (`_finality`); an unfinished bar is kept
   with `is_final` False, so a later run replaces it (Y6).

Nothing here does I/O. A frame is one symbol: cleaning never looks across symbols.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa

from kabuflow.errors import (
    CalendarRangeError,
    InvalidRequestError,
    MissingColumnError,
    PriceDataError,
)
from kabuflow.intervals import INTRADAY_INTERVALS, canonical_interval

log = logging.getLogger(__name__)

PRICE_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
}
ACTION_COLUMNS = {
    "Dividends": "dividend",
    "Stock Splits": "split",
    "Capital Gains": "capital_gain",
}
REQUIRED_COLUMNS = (*PRICE_COLUMNS, "Volume", "Dividends", "Stock Splits")
BAR_COLUMNS = ("bar", "open", "high", "low", "close", "adj_close", "volume", "is_final")
ACTION_FIELDS = ("date", "kind", "value")
OHLC = ("open", "high", "low", "close")
# Currency pairs: their volume is no measure of trading (a missing one is not
# refused) and their open and close are quotes, not bounded by the high and low.
CURRENCY_SUFFIXES = ("=X",)
REJECTING_KINDS = frozenset(
    {"missing_price", "missing_volume", "invalid_volume", "ohlc_violation"}
)

# Relative tolerance of the OHLC invariants, a fraction of the bar's largest price.
# Measured on tse_daily_2020-09_2022-09.parquet (1,793,656 priced rows, adjusted by
# yfinance): 44,375 rows break an invariant by at most 2.19e-16 of the price (under
# one ulp: rounding in the adjustment), while the 303 real violations (all dated
# 2022-05-17) break it by 1.35e-4 or more. 1e-12 sits four orders of magnitude above
# the noise and eight below the smallest real violation.
OHLC_TOLERANCE = 1e-12

INTRADAY_MINUTES = {
    "1m": 1,
    "2m": 2,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "90m": 90,
}
# Calendar length of the longer bars. A `5d` bar spans five sessions, which holidays
# can stretch beyond a week (Golden Week, New Year): two weeks is a safe bound.
PERIOD_DAYS = {"5d": 14, "1wk": 7}
PERIOD_MONTHS = {"1mo": 1, "3mo": 3}
# A daily session closes before the local midnight that ends its day, so dates this
# many days before today are final without asking the calendar.
SETTLED_DAYS = 2
_VOLUME_LIMIT = float(2**63)

SessionClose = Callable[[dt.date], "dt.datetime | None"]


@dataclass(frozen=True)
class Issue:
    """A problem found in the source data; `bar` is a date, or a UTC datetime."""

    kind: str
    bar: dt.date | dt.datetime
    detail: str

    def as_dict(self) -> dict:
        """Return the issue as JSON-ready values."""
        return {"kind": self.kind, "bar": self.bar.isoformat(), "detail": self.detail}


@dataclass(frozen=True)
class PriceBars:
    """One symbol's normalized bars, its corporate actions and what was refused.

    `bars` has the columns `BAR_COLUMNS`, one row per bar, sorted by `bar`: dates
    (`datetime.date`, the exchange-local trading date or the period's first day) for
    daily and longer intervals, UTC timestamps for intraday ones. Prices are float64,
    NaN only in `adj_close` (meaning NULL); `volume` is int64; `is_final` is bool.
    `actions` has the columns `ACTION_FIELDS`, `date` holding `datetime.date` values.
    `rejected` counts the bars dropped for the reasons in `issues`.
    """

    symbol: str
    interval: str
    bars: pd.DataFrame
    actions: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)
    rejected: int = 0

    @property
    def intraday(self) -> bool:
        """Whether `bar` holds UTC instants (intraday) rather than dates."""
        return self.interval in INTRADAY_INTERVALS

    def records(self) -> list[tuple]:
        """Return the bars as tuples of plain Python values, None for a NaN."""
        columns = [self.bars[name].tolist() for name in BAR_COLUMNS]
        if self.intraday:
            columns[0] = [stamp.to_pydatetime() for stamp in columns[0]]
        columns[5] = [None if math.isnan(value) else value for value in columns[5]]
        return list(zip(*columns, strict=True))


def normalize_bars(
    frame: pd.DataFrame,
    *,
    symbol: str,
    interval: str,
    exchange_tz: str | None,
    now: dt.datetime,
    session_close: SessionClose,
) -> PriceBars:
    """Clean one symbol's yfinance frame into `PriceBars` (rules in the module doc).

    `exchange_tz` None means the index's own zone. `now` must be timezone-aware.
    `session_close(day)` returns the UTC instant `day`'s session closes, None when
    unknown; it is asked only about the last two local dates and later ones.
    Raises `MissingColumnError` when an expected column is absent, `PriceDataError`
    when the index does not hold tz-aware datetimes.
    """
    interval = canonical_interval(interval)
    if now.tzinfo is None:
        raise InvalidRequestError("now", "must be a timezone-aware datetime")
    _check_frame(frame, symbol)
    zone = _zone(frame, exchange_tz)
    if frame.empty:
        frame = frame.set_axis(pd.DatetimeIndex([], tz=zone))
    rows = _Rows.read(frame, zone, interval in INTRADAY_INTERVALS)

    actions, issues = _actions(rows)
    kept, duplicates = _last_of_each_bar(rows.keys)
    issues += [
        Issue("duplicate", rows.bar(pos), f"{count} rows, kept the last one")
        for pos, count in duplicates
    ]
    accepted, reasons = _accept(rows, kept, symbol.endswith(CURRENCY_SUFFIXES))
    issues += reasons

    bars = _bar_frame(rows, accepted)
    bars["is_final"] = _finality(rows, accepted, interval, now, zone, session_close)
    rejected = [issue.kind for issue in reasons if issue.kind in REJECTING_KINDS]
    if rejected:
        counts = dict(Counter(rejected))
        log.warning(
            "%s %s: rejected %d bar(s): %s", symbol, interval, len(rejected), counts
        )
    return PriceBars(symbol, interval, bars, actions, issues, len(rejected))


def _check_frame(frame: pd.DataFrame, symbol: str) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise MissingColumnError(symbol, missing)
    index = frame.index
    aware = isinstance(index, pd.DatetimeIndex) and index.tz is not None
    if len(index) and not aware:
        raise PriceDataError(
            f"expected a tz-aware DatetimeIndex, got {type(index).__name__} "
            f"of {index.dtype}",
            symbol,
        )


def _zone(frame: pd.DataFrame, exchange_tz: str | None) -> ZoneInfo:
    # An empty frame may come without a DatetimeIndex, hence without a zone.
    return ZoneInfo(exchange_tz or str(getattr(frame.index, "tz", None) or "UTC"))


@dataclass(frozen=True)
class _Rows:
    """The frame as numpy arrays, one entry per row in the order Yahoo sent them.

    `keys` identify bars: the exchange-local date (datetime64[D]) for daily and
    longer intervals, the UTC instant (datetime64[us]) for intraday ones.
    """

    intraday: bool
    keys: np.ndarray
    days: np.ndarray
    prices: dict[str, np.ndarray]
    volume: np.ndarray
    whole_volume: np.ndarray
    actions: dict[str, np.ndarray]

    @classmethod
    def read(cls, frame: pd.DataFrame, zone: ZoneInfo, intraday: bool) -> _Rows:
        local = frame.index.tz_convert(zone).tz_localize(None)
        days = local.to_numpy().astype("datetime64[D]")
        utc = frame.index.tz_convert("UTC").tz_localize(None).to_numpy()
        volume, whole = _volumes(frame["Volume"])
        return cls(
            intraday=intraday,
            keys=utc.astype("datetime64[us]") if intraday else days,
            days=days,
            prices={name: _floats(frame[col]) for col, name in PRICE_COLUMNS.items()},
            volume=volume,
            whole_volume=whole,
            actions={
                kind: _floats(frame[col])
                for col, kind in ACTION_COLUMNS.items()
                if col in frame.columns
            },
        )

    def bar(self, pos: int) -> dt.date | dt.datetime:
        """Return row `pos`'s bar as a plain date, or an aware UTC datetime."""
        value = self.keys[pos].astype(object)
        return value.replace(tzinfo=dt.UTC) if self.intraday else value

    def describe(self, pos: int) -> str:
        """Return row `pos`'s prices and volume with every digit."""
        values = [f"{name}={float(self.prices[name][pos])!r}" for name in OHLC]
        return " ".join([*values, f"volume={float(self.volume[pos])!r}"])


def _floats(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column).to_numpy(dtype="float64", na_value=np.nan)


def _volumes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    # Integer volumes stay exact beyond 2**53; float ones are checked for being
    # whole numbers (`_accept`) before they are trusted as int64.
    floats = _floats(column)
    if pd.api.types.is_integer_dtype(column.dtype):
        return floats, column.fillna(0).to_numpy(dtype="int64")
    usable = np.isfinite(floats) & (floats >= 0) & (floats < _VOLUME_LIMIT)
    return floats, np.where(usable, floats, 0).astype("int64")


def _actions(rows: _Rows) -> tuple[pd.DataFrame, list[Issue]]:
    """Return the frame's actions, the last row winning per (date, kind), sorted."""
    found, issues = {}, []
    for kind, values in rows.actions.items():
        for pos in np.flatnonzero(~np.isnan(values) & (values != 0)):
            value = float(values[pos])
            if _valid_action(kind, value):
                found[(rows.days[pos], kind)] = value
            else:
                detail = f"{kind} {value!r}"
                issues.append(Issue("invalid_action", rows.bar(pos), detail))
    keys = sorted(found)
    actions = pd.DataFrame(
        {
            "date": _dates(np.array([day for day, _ in keys], dtype="datetime64[D]")),
            "kind": pd.Series([kind for _, kind in keys], dtype="str"),
            "value": pd.Series([found[key] for key in keys], dtype="float64"),
        }
    )
    return actions, issues


def _valid_action(kind: str, value: float) -> bool:
    # A split of ratio 1.0 changes nothing; stored, it would only set off a re-fetch.
    return math.isfinite(value) and value > 0 and not (kind == "split" and value == 1)


def _dates(days: np.ndarray) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(days, type=pa.date32())))


def _last_of_each_bar(keys: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Return the positions of each bar's last row, sorted by bar, and duplicates.

    Duplicates are (position kept, number of rows) pairs.
    """
    _, last_from_end, counts = np.unique(
        keys[::-1], return_index=True, return_counts=True
    )
    kept = len(keys) - 1 - last_from_end
    return kept, [(int(kept[i]), int(counts[i])) for i in np.flatnonzero(counts > 1)]


def _accept(
    rows: _Rows, kept: np.ndarray, currency: bool
) -> tuple[np.ndarray, list[Issue]]:
    """Return the kept positions that make sound bars, and every issue found.

    `currency` relaxes the volume and range rules (module doc, rules 5 and 6).
    """
    prices = np.vstack([rows.prices[name][kept] for name in OHLC])
    priced = np.isfinite(prices).all(axis=0)
    carries_action = np.zeros(len(kept), dtype=bool)
    for values in rows.actions.values():
        carries_action |= ~np.isnan(values[kept]) & (values[kept] != 0)
    action_only = (
        np.isnan(prices).all(axis=0) & carries_action & ~(rows.volume[kept] > 0)
    )

    volume = rows.volume[kept]
    inverted, outside = _ohlc_violations(prices)
    reasons = {
        "missing_price": ~priced,
        "missing_volume": np.isnan(volume) & (not currency),
        "invalid_volume": ~_whole_volume(volume),
        "ohlc_violation": inverted | (outside & (not currency)),
    }
    issues, refused = _reasons(rows, kept, reasons, skipped=action_only)
    accepted = kept[~refused]
    if currency:
        issues += _quotes_outside_range(rows, kept[outside & ~refused])
    return accepted, issues + _missing_adj_close(rows, accepted)


def _whole_volume(volume: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isnan(volume) | (
            (volume >= 0) & (volume < _VOLUME_LIMIT) & (volume == np.floor(volume))
        )


def _ohlc_violations(prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return which bars have low above high, and which an open or close outside."""
    open_, high, low, close = prices
    slack = np.abs(prices).max(axis=0) * OHLC_TOLERANCE
    with np.errstate(invalid="ignore"):
        inverted = low > high + slack
        outside = (low > np.minimum(open_, close) + slack) | (
            high < np.maximum(open_, close) - slack
        )
    return inverted, outside


def _quotes_outside_range(rows: _Rows, positions: np.ndarray) -> list[Issue]:
    return [
        Issue("quote_outside_range", rows.bar(pos), rows.describe(pos))
        for pos in positions
    ]


def _reasons(
    rows: _Rows, kept: np.ndarray, reasons: dict[str, np.ndarray], skipped: np.ndarray
) -> tuple[list[Issue], np.ndarray]:
    """Report each refused bar once, under the first reason that applies.

    `skipped` rows are refused without a report; the mask returned covers both.
    """
    issues, refused = [], skipped.copy()
    for kind, mask in reasons.items():
        fresh = mask & ~refused
        issues += [
            Issue(kind, rows.bar(pos), rows.describe(pos)) for pos in kept[fresh]
        ]
        refused |= fresh
    return issues, refused


def _missing_adj_close(rows: _Rows, accepted: np.ndarray) -> list[Issue]:
    adjusted = rows.prices["adj_close"][accepted]
    return [
        Issue("missing_adj_close", rows.bar(pos), "stored as NULL")
        for pos in accepted[~np.isfinite(adjusted)]
    ]


def _bar_frame(rows: _Rows, accepted: np.ndarray) -> pd.DataFrame:
    keys = rows.keys[accepted]
    bar = pd.Series(keys).dt.tz_localize("UTC") if rows.intraday else _dates(keys)
    adjusted = rows.prices["adj_close"][accepted]
    return pd.DataFrame(
        {
            "bar": bar,
            **{name: rows.prices[name][accepted] for name in OHLC},
            "adj_close": np.where(np.isfinite(adjusted), adjusted, np.nan),
            "volume": rows.whole_volume[accepted],
        }
    )


def _finality(
    rows: _Rows,
    accepted: np.ndarray,
    interval: str,
    now: dt.datetime,
    zone: ZoneInfo,
    session_close: SessionClose,
) -> np.ndarray:
    """Return which bars are final: their period is over at `now`.

    Intraday: the bar's end has passed. `1d`: the session has closed, by the
    calendar, or by the local date when the calendar does not know. Longer bars:
    today's local date lies past the period, whose length `PERIOD_DAYS` and
    `PERIOD_MONTHS` bound from above.
    """
    if rows.intraday:
        end = rows.keys[accepted] + np.timedelta64(INTRADAY_MINUTES[interval], "m")
        return end <= np.datetime64(now.astimezone(dt.UTC).replace(tzinfo=None), "us")
    days = rows.days[accepted]
    today = np.datetime64(now.astimezone(zone).date(), "D")
    if interval == "1d":
        return _sessions_closed(days, today, now, session_close)
    if interval in PERIOD_MONTHS:
        months = days.astype("datetime64[M]") + PERIOD_MONTHS[interval]
        return months.astype("datetime64[D]") <= today
    return days + PERIOD_DAYS[interval] <= today


def _sessions_closed(
    days: np.ndarray, today: np.datetime64, now: dt.datetime, session_close
) -> np.ndarray:
    final = days < today
    for pos in np.flatnonzero(days > today - SETTLED_DAYS):
        day = days[pos].astype(object)
        closes = _session_close(session_close, day)
        if closes is not None:
            final[pos] = closes <= now
    return final


def _session_close(session_close: SessionClose, day: dt.date) -> dt.datetime | None:
    try:
        return session_close(day)
    except CalendarRangeError as err:
        log.debug("no calendar answer for %s (%s): judging by the date", day, err)
        return None
