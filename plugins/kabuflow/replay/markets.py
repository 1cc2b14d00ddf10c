"""What Yahoo says about a symbol's market: time zone, currency, type, session hours.

The rules follow the symbol's shape, as Yahoo's own metadata does for the symbols in
our recorded data: `.T` trades in Tokyo (JPY), `=X` is a currency pair that Yahoo
dates in London, `^` is an index, and anything else is taken as a US listing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

# Tokyo's afternoon session was extended to 15:30 on this day.
TOKYO_LONGER_CLOSE_FROM = dt.date(2024, 11, 5)


@dataclass(frozen=True)
class Market:
    """One symbol's market as Yahoo describes it in chart and quote metadata."""

    zone: str
    currency: str
    instrument_type: str
    exchange_name: str
    full_exchange_name: str
    open_time: dt.time
    close_time: dt.time

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def close_on(self, day: dt.date) -> dt.time:
        """Return the regular session's closing time on `day`, local time."""
        if self.zone == "Asia/Tokyo" and day >= TOKYO_LONGER_CLOSE_FROM:
            return dt.time(15, 30)
        return self.close_time

    def session_bounds(self, day: dt.date) -> tuple[int, int]:
        """Return the regular session of `day` as epoch seconds (start, end)."""
        start = dt.datetime.combine(day, self.open_time, self.tzinfo)
        end = dt.datetime.combine(day, self.close_on(day), self.tzinfo)
        if end <= start:
            end += dt.timedelta(days=1)
        return int(start.timestamp()), int(end.timestamp())

    def session_opens(self, dates: np.ndarray) -> np.ndarray:
        """Return the epoch seconds at which each session of `dates` opened.

        `dates` is `datetime64[D]` in exchange-local dates; Yahoo stamps every daily
        and longer bar with this instant.
        """
        local = pd.DatetimeIndex(dates.astype("datetime64[s]"))
        local = local + pd.Timedelta(
            hours=self.open_time.hour, minutes=self.open_time.minute
        )
        instants = local.tz_localize(
            self.zone, ambiguous=True, nonexistent="shift_forward"
        )
        return instants.as_unit("s").asi8.copy()

    def local_dates_of_stamps(self, utc_dates: np.ndarray) -> np.ndarray:
        """Return the local dates of bars whose stamps fall on `utc_dates` (UTC).

        A bar is stamped with its session's opening instant. Where that instant
        precedes midnight UTC of the local date, the local date is the day after
        the UTC one. `utc_dates` is `datetime64[D]`; it comes back unchanged (the
        same array) for a market whose sessions never open before midnight UTC.
        """
        if not self._opens_before_utc_midnight():
            return utc_dates
        next_days = utc_dates + np.timedelta64(1, "D")
        stamped = (self.session_opens(next_days) // 86400).astype("datetime64[D]")
        return np.where(stamped == utc_dates, next_days, utc_dates)

    def _opens_before_utc_midnight(self) -> bool:
        opening = dt.timedelta(hours=self.open_time.hour, minutes=self.open_time.minute)
        offsets = (
            self.tzinfo.utcoffset(dt.datetime(2020, month, 1)) for month in (1, 7)
        )
        return any(offset > opening for offset in offsets)

    def utc_offset(self, epoch: int) -> tuple[int, str]:
        """Return the zone's offset in seconds and its abbreviation at `epoch`."""
        local = dt.datetime.fromtimestamp(epoch, self.tzinfo)
        return int(local.utcoffset().total_seconds()), local.tzname() or self.zone

    def local_date(self, epoch: int) -> dt.date:
        """Return the exchange-local date of the instant `epoch`."""
        return dt.datetime.fromtimestamp(epoch, self.tzinfo).date()


_TOKYO = dict(
    zone="Asia/Tokyo",
    currency="JPY",
    open_time=dt.time(9, 0),
    close_time=dt.time(15, 0),
)
_NEW_YORK = dict(
    zone="America/New_York",
    currency="USD",
    open_time=dt.time(9, 30),
    close_time=dt.time(16, 0),
)


@lru_cache(maxsize=16384)
def market_for(symbol: str) -> Market:
    """Return the market of `symbol` (upper-case Yahoo symbol)."""
    if symbol.endswith(".T"):
        return Market(
            **_TOKYO,
            instrument_type="EQUITY",
            exchange_name="JPX",
            full_exchange_name="Tokyo",
        )
    if symbol.endswith("=X"):
        return Market(
            zone="Europe/London",
            currency=_quote_currency(symbol[:-2]),
            instrument_type="CURRENCY",
            exchange_name="CCY",
            full_exchange_name="CCY",
            open_time=dt.time(0, 0),
            close_time=dt.time(23, 59),
        )
    if symbol == "^N225":
        return Market(
            **_TOKYO,
            instrument_type="INDEX",
            exchange_name="OSA",
            full_exchange_name="Osaka",
        )
    if symbol.startswith("^"):
        return Market(
            **_NEW_YORK,
            instrument_type="INDEX",
            exchange_name="SNP",
            full_exchange_name="SNP",
        )
    return Market(
        **_NEW_YORK,
        instrument_type="EQUITY",
        exchange_name="NYQ",
        full_exchange_name="NYSE",
    )


def _quote_currency(pair: str) -> str:
    # `JPYUSD` is priced in USD; a bare `JPY` is Yahoo's short form of USD/JPY.
    return pair[-3:] if len(pair) in (3, 6) else "USD"
