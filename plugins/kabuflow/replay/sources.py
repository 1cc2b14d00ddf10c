"""Read recorded prices from parquet and CSV files into a `PriceStore`.

Understood layouts (column names are matched case-insensitively, spaces as `_`):
- `symbol,date,open,high,low,close,volume,dividends,stock_splits` (parquet or CSV);
- `Date,Open,High,Low,Close,Volume,Dividends,Stock Splits`, one symbol per file;
- `Date,High,Low,Open,Close,Volume,Adj Close`, raw prices plus an adjusted close.

Without a `symbol` column the file name is the symbol (`7203.T.csv` is `7203.T`).
Without `Adj Close` the prices are already adjusted, so the adjusted close is the
close. A directory means every `.parquet` and `.csv` file in it, in name order.
Numbers are parsed to the nearest double, so every digit in a file survives.

A date with a time and an offset keeps its local date. A plain date is the UTC date
of Yahoo's stamp for the bar, as the recorded files were written: the same as the
local trading date for Tokyo and New York, but the day before it for a market whose
session opens before midnight UTC (London's currency bars in summer: 00:00 BST is
23:00 UTC), so those bars are moved to their local date
(`Market.local_dates_of_stamps`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from kabuflow.replay.errors import DataSourceError
from kabuflow.replay.store import PriceSeries, PriceStore

log = logging.getLogger(__name__)

REQUIRED = ("date", "open", "high", "low", "close", "volume")
OPTIONAL = ("adj_close", "dividends", "stock_splits")
SUFFIXES = (".parquet", ".csv")


def load_store(paths: Iterable[str | Path]) -> PriceStore:
    """Read every source in order into one store; later sources win per symbol.

    Raises `DataSourceError` for a missing path or a file without the columns above.
    """
    started = time.monotonic()
    store = PriceStore()
    for path in _expand(paths):
        store.update(read_file(path))
    log.info("loaded %s symbols in %.2f s", len(store), time.monotonic() - started)
    return store


def read_file(path: Path) -> PriceStore:
    """Read one parquet or CSV file into a store of its symbols."""
    raw = _read_table(path)
    table = _normalized(raw, path)
    if "symbol" not in table.column_names:
        symbol = path.name[: -len(path.suffix)].upper()
        table = table.append_column("symbol", pa.array([symbol] * table.num_rows))
    series = _split_by_symbol(table)
    if _plain_dates(raw):
        series = [_dated_locally(item) for item in series]
    return PriceStore(series)


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES))
        elif path.is_file() and path.suffix in SUFFIXES:
            files.append(path)
        else:
            raise DataSourceError(f"{path}: not a .parquet or .csv file or a directory")
    return files


def _read_table(path: Path) -> pa.Table:
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        # Dates stay text until parsed: a zoned time would otherwise move the date.
        as_text = {name: pa.string() for name in ("Date", "date")}
        options = pa_csv.ConvertOptions(column_types=as_text)
        return pa_csv.read_csv(path, convert_options=options)
    except (OSError, pa.ArrowException) as exc:
        raise DataSourceError(f"{path}: cannot read: {exc}") from exc


def _normalized(table: pa.Table, path: Path) -> pa.Table:
    names = [name.strip().lower().replace(" ", "_") for name in table.column_names]
    table = table.rename_columns(names)
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise DataSourceError(f"{path}: missing columns {', '.join(missing)}")
    columns = {"date": _dates(table.column("date"), path)}
    for name in (*REQUIRED[1:], *OPTIONAL):
        if name in names:
            columns[name] = pc.cast(table.column(name), pa.float64())
    if "symbol" in names:
        columns["symbol"] = pc.utf8_upper(pc.cast(table.column("symbol"), pa.string()))
    return pa.table(columns)


def _dates(column: pa.ChunkedArray, path: Path) -> pa.ChunkedArray:
    try:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.strptime(
                pc.utf8_slice_codeunits(column, 0, 10), "%Y-%m-%d", "s"
            )
        return pc.cast(column, pa.date32())
    except pa.ArrowException as exc:
        raise DataSourceError(f"{path}: unreadable date column: {exc}") from exc


def _plain_dates(table: pa.Table) -> bool:
    """Return whether the date column holds dates without a time of day."""
    names = [name for name in table.column_names if name.strip().lower() == "date"]
    column = table.column(names[0])
    if pa.types.is_date(column.type):
        return True
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        longest = pc.max(pc.utf8_length(column)).as_py()
        return longest is None or longest <= len("YYYY-MM-DD")
    return False


def _dated_locally(series: PriceSeries) -> PriceSeries:
    local = series.market.local_dates_of_stamps(series.dates)
    if local is series.dates:
        return series
    return series.with_columns(dates=local)


def _split_by_symbol(table: pa.Table) -> list[PriceSeries]:
    encoded = pc.dictionary_encode(table.column("symbol").combine_chunks())
    names = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    arrays = _column_arrays(table)
    order = _grouping_order(codes, arrays["dates"])
    if order is not None:
        codes = codes[order]
        arrays = {name: values[order] for name, values in arrays.items()}
    starts = np.concatenate(([0], np.flatnonzero(np.diff(codes)) + 1))
    ends = np.concatenate((starts[1:], [len(codes)]))
    return [
        _series(names[codes[start]], arrays, start, end)
        for start, end in zip(starts, ends, strict=True)
        if end > start
    ]


def _grouping_order(codes: np.ndarray, dates: np.ndarray) -> np.ndarray | None:
    """Return the order that groups rows by symbol and sorts them by date.

    None when the rows already are (the usual case: sorting 1.8 M rows costs more
    than everything else in a load).
    """
    if len(codes) < 2:
        return None
    code_steps = np.diff(codes)
    date_steps = np.diff(dates).astype(np.int64)
    if np.all((code_steps > 0) | ((code_steps == 0) & (date_steps >= 0))):
        return None
    return np.lexsort((dates, codes))


def _column_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    def floats(name: str, default: float) -> np.ndarray:
        if name not in table.column_names:
            return np.full(table.num_rows, default)
        return table.column(name).to_numpy().astype(np.float64, copy=False)

    arrays = {
        "dates": table.column("date").to_numpy().astype("datetime64[D]"),
        **{name: floats(name, np.nan) for name in REQUIRED[1:]},
        "dividends": np.nan_to_num(floats("dividends", 0.0)),
        "splits": np.nan_to_num(floats("stock_splits", 0.0)),
    }
    has_adjusted = "adj_close" in table.column_names
    arrays["adjclose"] = (
        floats("adj_close", np.nan) if has_adjusted else arrays["close"]
    )
    return arrays


def _series(symbol: str, arrays: dict, start: int, end: int) -> PriceSeries:
    return PriceSeries(
        symbol=symbol,
        dates=arrays["dates"][start:end],
        open=arrays["open"][start:end],
        high=arrays["high"][start:end],
        low=arrays["low"][start:end],
        close=arrays["close"][start:end],
        adjclose=arrays["adjclose"][start:end],
        volume=arrays["volume"][start:end],
        dividends=arrays["dividends"][start:end],
        splits=arrays["splits"][start:end],
    )
