"""What the replay server holds, to compare stored prices with (any test layer).

A stock fetched successfully over a window stores exactly the recorded bars of that
window when they are *sound*; `sound_symbols` picks such stocks, `recorded_bars`
counts what they should store and `stored_rows` counts what they did.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest


def sound_symbols(server, symbols, window: dict, needed: int) -> list[str]:
    """Return the first `needed` symbols whose recorded bars in `window` are sound.

    Sound: prices and volume present, within the OHLC invariants, and at least one
    bar. Every such bar is stored by a successful fetch, so a stock's stored rows
    can be compared with the recording exactly.
    """
    chosen = [s for s in symbols if _sound(server.state.series(s), window)]
    if len(chosen) < needed:
        pytest.skip(f"only {len(chosen)} symbols with sound bars in {window}")
    return chosen[:needed]


def recorded_bars(server, symbol: str, window: dict) -> int:
    """Return how many bars the replay server holds for `symbol` inside `window`."""
    series = server.state.series(symbol)
    return int(_in_window(series.dates, window).sum())


def stored_rows(database_url: str, symbols, window: dict) -> dict[str, int]:
    """Return the daily rows stored per symbol inside `window` (0 when none)."""
    query = (
        "SELECT symbol, count(*) FROM daily_prices WHERE interval = %s "
        "AND symbol = ANY(%s) AND date >= %s AND date < %s GROUP BY symbol"
    )
    params = (window["interval"], list(symbols), window["start"], window["end"])
    with psycopg.connect(database_url) as conn:
        counts = dict(conn.execute(query, params).fetchall())
    return {symbol: counts.get(symbol, 0) for symbol in symbols}


def _sound(series, window: dict) -> bool:
    if series is None:
        return False
    inside = _in_window(series.dates, window)
    o, h, lo, c = (getattr(series, n)[inside] for n in ("open", "high", "low", "close"))
    volume = series.volume[inside]
    if not inside.any():
        return False
    finite = np.isfinite(np.stack([o, h, lo, c, volume])).all()
    return bool(
        finite
        and (volume >= 0).all()
        and (lo <= np.minimum(o, c)).all()
        and (h >= np.maximum(o, c)).all()
    )


def _in_window(dates: np.ndarray, window: dict) -> np.ndarray:
    start = np.datetime64(window["start"], "D")
    end = np.datetime64(window["end"], "D")
    return (dates >= start) & (dates < end)
