"""Faults and changes the replay server applies on purpose, read from JSON.

Every key is optional; symbols are matched upper-case:

```json
{
  "now": "2022-09-16T03:00:00Z",
  "rate_limit": {"symbols": ["7203.T"], "requests": [[41, 120]]},
  "tz_failure": ["6758.T"],
  "delay": {"7203.T": 1.5},
  "server_error": {"9984.T": 502},
  "remove_days": {"7203.T": ["2022-05-02"]},
  "split": {"7203.T": [{"date": "2022-09-01", "ratio": 5}]},
  "repeat_bar": {"7203.T": ["2022-05-06"]},
  "nan_row": {"6758.T": [{"date": "2022-05-09", "volume": 120000}]},
  "null_volume": {"JPYUSD=X": ["2020-05-05"]},
  "intraday": {"7203.T": {"5m": [{"time": "2022-09-16T09:00:00+09:00",
               "open": 1, "high": 1, "low": 1, "close": 1, "volume": 10}]}}
}
```

- `now`: the server's clock (ISO 8601 with an offset).
- `rate_limit`: HTTP 429 for every chart request of `symbols`, and for chart
  requests whose number, counted server-wide from when the scenario was set and
  starting at 1, falls in one of the inclusive `requests` ranges.
- `tz_failure`: yfinance's time-zone lookup for the symbol fails: the chart request
  `range=1d&interval=1d` and quoteSummary answer 500, while every other chart
  request for it is served.
- `delay`: seconds to wait before answering each chart request of the symbol.
- `server_error`: answer every chart request of the symbol with this 5xx status.
- `remove_days`: drop those trading days from the symbol's history.
- `split`: re-serve history after a split: the first session on or after `date`
  carries the split; earlier prices, adjusted closes and dividends are divided by
  `ratio` and earlier volumes multiplied by it.
- `repeat_bar`: send that day's bar twice (the same timestamp twice).
- `nan_row`: that day's prices become null, keeping its volume unless `volume` is
  given; a day absent from the data is inserted (volume null unless given).
- `null_volume`: that day's volume becomes null, its prices stay.
- `intraday`: bars for an intraday interval (`time` ISO 8601 with offset or epoch
  seconds); prices and volume may be null.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from kabuflow.replay.errors import ScenarioError
from kabuflow.replay.intraday import IntradayBars, canonical_interval
from kabuflow.replay.store import PRICE_COLUMNS, PriceSeries
from kabuflow.replay.windows import INTRADAY_INTERVALS

SERVER_ERRORS = (500, 502, 503, 504)
KEYS = (
    "now",
    "rate_limit",
    "tz_failure",
    "delay",
    "server_error",
    "remove_days",
    "split",
    "repeat_bar",
    "nan_row",
    "null_volume",
    "intraday",
)
_EMPTY: Mapping = MappingProxyType({})


def _empty() -> Mapping:
    return _EMPTY


@dataclass(frozen=True)
class Split:
    date: dt.date
    ratio: float


@dataclass(frozen=True)
class NanRow:
    date: dt.date
    volume: float | None


@dataclass(frozen=True, eq=False)
class Scenario:
    """A parsed scenario; build it with `Scenario.from_dict` or `from_file`."""

    now: int | None = None
    rate_limited_symbols: frozenset[str] = frozenset()
    rate_limited_requests: tuple[tuple[int, int], ...] = ()
    tz_failures: frozenset[str] = frozenset()
    delays: Mapping[str, float] = field(default_factory=_empty)
    server_errors: Mapping[str, int] = field(default_factory=_empty)
    removed_days: Mapping[str, tuple[dt.date, ...]] = field(default_factory=_empty)
    splits: Mapping[str, tuple[Split, ...]] = field(default_factory=_empty)
    repeated_bars: Mapping[str, tuple[dt.date, ...]] = field(default_factory=_empty)
    nan_rows: Mapping[str, tuple[NanRow, ...]] = field(default_factory=_empty)
    null_volumes: Mapping[str, tuple[dt.date, ...]] = field(default_factory=_empty)
    intraday: Mapping[str, Mapping[str, IntradayBars]] = field(default_factory=_empty)
    source: Mapping[str, Any] = field(default_factory=_empty, repr=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Scenario:
        """Parse a scenario; raise `ScenarioError` naming the first bad entry."""
        if not isinstance(raw, Mapping):
            raise ScenarioError("scenario", "expected a JSON object")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise ScenarioError(unknown[0], f"unknown key; known: {', '.join(KEYS)}")
        limit = _object(raw.get("rate_limit", {}), "rate_limit")
        return cls(
            now=None if raw.get("now") is None else parse_instant(raw["now"], "now"),
            rate_limited_symbols=_symbols(limit.get("symbols", []), "rate_limit"),
            rate_limited_requests=_ranges(limit.get("requests", [])),
            tz_failures=_symbols(raw.get("tz_failure", []), "tz_failure"),
            delays=_per_symbol(raw, "delay", _seconds),
            server_errors=_per_symbol(raw, "server_error", _server_error),
            removed_days=_per_symbol(raw, "remove_days", _many(_date)),
            splits=_per_symbol(raw, "split", _many(_split)),
            repeated_bars=_per_symbol(raw, "repeat_bar", _many(_date)),
            nan_rows=_per_symbol(raw, "nan_row", _many(_nan_row)),
            null_volumes=_per_symbol(raw, "null_volume", _many(_date)),
            intraday=_per_symbol(raw, "intraday", _intraday),
            source=MappingProxyType(dict(raw)),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Read a scenario from a JSON file."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ScenarioError("scenario", f"{path}: {exc}") from exc
        return cls.from_dict(raw)

    def is_rate_limited(self, symbol: str, request_number: int) -> bool:
        if symbol in self.rate_limited_symbols:
            return True
        return any(lo <= request_number <= hi for lo, hi in self.rate_limited_requests)

    def intraday_bars(self, symbol: str, interval: str) -> IntradayBars | None:
        return self.intraday.get(symbol, _EMPTY).get(canonical_interval(interval))

    def changes_history(self, symbol: str) -> bool:
        tables = (
            self.removed_days,
            self.splits,
            self.repeated_bars,
            self.nan_rows,
            self.null_volumes,
        )
        return any(symbol in table for table in tables)

    def apply(self, series: PriceSeries) -> PriceSeries:
        """Return `series` as this scenario re-serves it (unchanged if untouched)."""
        symbol = series.symbol
        if not self.changes_history(symbol):
            return series
        if symbol in self.removed_days:
            days = np.array(self.removed_days[symbol], dtype="datetime64[D]")
            series = series.take(~np.isin(series.dates, days))
        for row in self.nan_rows.get(symbol, ()):
            series = _with_nan_row(series, row)
        if symbol in self.null_volumes:
            days = np.array(self.null_volumes[symbol], dtype="datetime64[D]")
            volume = np.where(np.isin(series.dates, days), np.nan, series.volume)
            series = series.with_columns(volume=volume)
        for split in self.splits.get(symbol, ()):
            series = _with_split(series, split)
        if symbol in self.repeated_bars:
            days = np.array(self.repeated_bars[symbol], dtype="datetime64[D]")
            counts = np.where(np.isin(series.dates, days), 2, 1)
            series = series.take(np.repeat(np.arange(len(series)), counts))
        return series


def parse_instant(raw: Any, name: str) -> int:
    """Return epoch seconds from an ISO 8601 string with offset, or from a number."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return int(raw)
    try:
        moment = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        raise ScenarioError(name, f"not an ISO 8601 instant: {raw!r}") from None
    if moment.tzinfo is None:
        raise ScenarioError(name, f"{raw!r} has no UTC offset")
    return int(moment.timestamp())


def _with_nan_row(series: PriceSeries, row: NanRow) -> PriceSeries:
    day = np.datetime64(row.date, "D")
    at = np.flatnonzero(series.dates == day)
    if len(at) == 0:
        position = int(np.searchsorted(series.dates, day))
        columns = {
            name: np.insert(getattr(series, name), position, value)
            for name, value in (
                ("dates", day),
                *((name, np.nan) for name in PRICE_COLUMNS),
                ("volume", np.nan if row.volume is None else row.volume),
                ("dividends", 0.0),
                ("splits", 0.0),
            )
        }
        return series.with_columns(**columns)
    columns = {name: getattr(series, name).copy() for name in PRICE_COLUMNS}
    for values in columns.values():
        values[at] = np.nan
    volume = series.volume.copy()
    if row.volume is not None:
        volume[at] = row.volume
    return series.with_columns(**columns, volume=volume)


def _with_split(series: PriceSeries, split: Split) -> PriceSeries:
    at = int(np.searchsorted(series.dates, np.datetime64(split.date, "D")))
    if at >= len(series):
        return series
    before = np.arange(len(series)) < at
    columns = {
        name: np.where(
            before, getattr(series, name) / split.ratio, getattr(series, name)
        )
        for name in (*PRICE_COLUMNS, "dividends")
    }
    splits = series.splits.copy()
    splits[at] = splits[at] * split.ratio if splits[at] else split.ratio
    return series.with_columns(
        **columns,
        volume=np.where(before, series.volume * split.ratio, series.volume),
        splits=splits,
    )


def _object(raw: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(name, "expected a JSON object")
    return raw


def _symbols(raw: Any, name: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise ScenarioError(name, "expected a list of symbols")
    return frozenset(s.strip().upper() for s in raw)


def _ranges(raw: Any) -> tuple[tuple[int, int], ...]:
    ranges = []
    for item in raw if isinstance(raw, list) else [None]:
        valid = (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(n, int) and n >= 1 for n in item)
            and item[0] <= item[1]
        )
        if not valid:
            raise ScenarioError(
                "rate_limit.requests",
                "expected [[first, last], ...], 1 <= first <= last",
            )
        ranges.append((item[0], item[1]))
    return tuple(ranges)


def _per_symbol(raw: Mapping, name: str, parse: Callable[[Any, str], Any]) -> Mapping:
    table = _object(raw.get(name, {}), name)
    return MappingProxyType(
        {
            symbol.strip().upper(): parse(value, f"{name}.{symbol}")
            for symbol, value in table.items()
        }
    )


def _many(parse: Callable[[Any, str], Any]) -> Callable[[Any, str], tuple]:
    def parse_list(raw: Any, name: str) -> tuple:
        items = raw if isinstance(raw, list) else [raw]
        return tuple(parse(item, f"{name}[{i}]") for i, item in enumerate(items))

    return parse_list


def _date(raw: Any, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise ScenarioError(name, f"not a YYYY-MM-DD date: {raw!r}") from None


def _number(raw: Any, name: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ScenarioError(name, f"expected a number, got {raw!r}")
    return float(raw)


def _optional_number(raw: Any, name: str) -> float:
    return np.nan if raw is None else _number(raw, name)


def _seconds(raw: Any, name: str) -> float:
    seconds = _number(raw, name)
    if not 0 <= seconds <= 3600:
        raise ScenarioError(name, "expected seconds between 0 and 3600")
    return seconds


def _server_error(raw: Any, name: str) -> int:
    if raw not in SERVER_ERRORS:
        raise ScenarioError(name, f"expected one of {SERVER_ERRORS}, got {raw!r}")
    return int(raw)


def _split(raw: Any, name: str) -> Split:
    entry = _object(raw, name)
    ratio = _number(entry.get("ratio"), f"{name}.ratio")
    if not ratio > 0 or ratio == 1:
        raise ScenarioError(f"{name}.ratio", "expected a positive ratio other than 1")
    return Split(_date(entry.get("date"), f"{name}.date"), ratio)


def _nan_row(raw: Any, name: str) -> NanRow:
    if not isinstance(raw, Mapping):
        return NanRow(_date(raw, name), None)
    volume = raw.get("volume")
    return NanRow(
        _date(raw.get("date"), f"{name}.date"),
        None if volume is None else _number(volume, f"{name}.volume"),
    )


def _intraday(raw: Any, name: str) -> Mapping[str, IntradayBars]:
    table = _object(raw, name)
    bars = {}
    for interval, rows in table.items():
        if interval not in INTRADAY_INTERVALS:
            raise ScenarioError(f"{name}.{interval}", "not an intraday interval")
        bars[canonical_interval(interval)] = _bars(rows, f"{name}.{interval}")
    return MappingProxyType(bars)


def _bars(rows: Any, name: str) -> IntradayBars:
    if not isinstance(rows, list) or not rows:
        raise ScenarioError(name, "expected a non-empty list of bars")
    parsed = []
    for i, row in enumerate(rows):
        where = f"{name}[{i}]"
        row = _object(row, where)
        parsed.append(
            (
                parse_instant(row.get("time"), f"{where}.time"),
                *(
                    _optional_number(row.get(key), f"{where}.{key}")
                    for key in ("open", "high", "low", "close", "volume")
                ),
            )
        )
    parsed.sort(key=lambda bar: bar[0])
    columns = list(zip(*parsed, strict=True))
    return IntradayBars(
        np.array(columns[0], dtype=np.int64),
        *(np.array(column, dtype=np.float64) for column in columns[1:]),
    )
