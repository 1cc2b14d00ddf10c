"""Build price frames in the exact shape yfinance hands the normalizer, from real data.

`Ticker.history(auto_adjust=False, actions=True)` returns a tz-aware index in the
exchange's zone (daily bars at local midnight) and the columns of `COLUMNS`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

DATA = Path(__file__).parent / "data"
COLUMNS = [
    "Open",
    "High",
    "Low",
    "Close",
    "Adj Close",
    "Volume",
    "Dividends",
    "Stock Splits",
]
# Yahoo's exchangeTimezoneName for the symbols of tests/data.
ZONES = {"7203.T": "Asia/Tokyo", "JPYUSD=X": "Europe/London", "TM": "America/New_York"}
FILES = {
    "7203.T": "7203.T_2021-2022.csv",
    "JPYUSD=X": "JPYUSD=X_2020.csv",
    "TM": "TM_2020.csv",
}


def yahoo_frame(symbol: str) -> pd.DataFrame:
    """Return the real daily data of `symbol` (tests/data) as yfinance returns it.

    Files without `Adj Close` hold adjusted prices: their close is the adjusted
    close. Files without action columns get zeros, as yfinance fills them.
    """
    raw = pd.read_csv(DATA / FILES[symbol])
    index = pd.DatetimeIndex(pd.to_datetime(raw["Date"]), name="Date")
    frame = pd.DataFrame(index=index.tz_localize(ZONES[symbol]))
    for column in COLUMNS:
        if column in raw:
            frame[column] = raw[column].to_numpy()
        elif column == "Adj Close":
            frame[column] = raw["Close"].to_numpy()
        else:
            frame[column] = 0.0
    return frame


def frame_of(rows: list[tuple], zone: str = "Asia/Tokyo") -> pd.DataFrame:
    """Return a yfinance-shaped frame of `rows`: (timestamp, open, high, low, close,
    adj close, volume[, dividends, splits]); naive timestamps are in `zone`."""
    records = [row + (0.0, 0.0) if len(row) == 7 else row for row in rows]
    stamps = [pd.Timestamp(row[0]) for row in records]
    index = pd.DatetimeIndex(
        [s.tz_localize(zone) if s.tz is None else s.tz_convert(zone) for s in stamps],
        name="Date",
    )
    return pd.DataFrame([row[1:] for row in records], columns=COLUMNS, index=index)


def utc(*args: int) -> dt.datetime:
    """Return an aware UTC datetime."""
    return dt.datetime(*args, tzinfo=dt.UTC)


def no_calendar(day: dt.date) -> None:
    """A `session_close` that knows no calendar."""
    return None
