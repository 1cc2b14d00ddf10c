"""Load the exchange's listed-issues list into `stock_master` and log each refresh.

The list is JPX's CSV of listed issues (Japanese headers 日付, コード, 銘柄名, ...; `-`
means none), read from an http(s) URL or a file path, UTF-8 or Shift_JIS (cp932).
Offline, the bundled copy in `data/sample/` is the default; `KABUFLOW_LISTED_ISSUES_URL`
overrides it. JPX itself publishes an `.xls` file: save it as CSV first.

A refresh is idempotent: loading the same list twice changes nothing the second time.
It compares the list with the table in SQL: new codes are added, active codes whose
attributes differ are changed, codes missing from the list are delisted (kept, marked
inactive) and delisted codes that reappear are relisted. Every refresh, failed ones
included, leaves a row in `stock_master_updates`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
from dataclasses import asdict, astuple, dataclass
from pathlib import Path

import httpx

from kabuflow.db import get_pool
from kabuflow.errors import InvalidRequestError, PermanentError, RetryableError
from kabuflow.sqlfiles import load_sql
from kabuflow.symbols import is_tokyo_symbol, normalize_symbol

log = logging.getLogger(__name__)

BUNDLED_LIST = (
    Path(__file__).resolve().parents[2]
    / "data"
    / "sample"
    / "jpx_listed_2024-03-29.csv"
)
SOURCE_URL_VARIABLE = "KABUFLOW_LISTED_ISSUES_URL"
DOWNLOAD_TIMEOUT = 30.0
NONE_MARK = "-"

# JPX header -> our column, in the file's order.
COLUMNS = {
    "日付": "list_date",
    "コード": "code",
    "銘柄名": "name",
    "市場・商品区分": "market_segment",
    "33業種コード": "sector33_code",
    "33業種区分": "sector33_name",
    "17業種コード": "sector17_code",
    "17業種区分": "sector17_name",
    "規模コード": "size_code",
    "規模区分": "size_category",
}


class ListedIssuesError(PermanentError):
    """The listed-issues list cannot be read or would corrupt `stock_master`."""


@dataclass(frozen=True)
class ListedIssue:
    """One row of the listed-issues list; `None` where the list says `-`."""

    code: str
    symbol: str
    name: str
    market_segment: str | None
    sector33_code: str | None
    sector33_name: str | None
    sector17_code: str | None
    sector17_name: str | None
    size_code: str | None
    size_category: str | None
    list_date: dt.date


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh found: issues in the list and how `stock_master` changed."""

    update_id: int
    source: str
    list_date: dt.date
    total_issues: int
    added: int
    changed: int
    delisted: int
    relisted: int

    def as_dict(self) -> dict:
        """Return the result as JSON-ready values (the date as `YYYY-MM-DD`)."""
        return {**asdict(self), "list_date": self.list_date.isoformat()}


def default_source() -> str:
    """Return `KABUFLOW_LISTED_ISSUES_URL` if set, else the bundled list's path."""
    return os.environ.get(SOURCE_URL_VARIABLE, "").strip() or str(BUNDLED_LIST)


def refresh_stock_master(
    source: str | None = None, *, database_url: str | None = None
) -> RefreshResult:
    """Load the list at `source` (default: `default_source()`) into `stock_master`.

    Raises `ListedIssuesError` for an unreadable or implausible list (empty, a code
    twice, older than the newest list loaded) and `RetryableError` when a download
    fails in a way that may pass. Either way the refresh is recorded as failed and
    `stock_master` is left as it was.
    """
    source = source or default_source()
    pool = get_pool(database_url)
    with pool.connection() as conn:
        update_id = conn.execute(
            load_sql("stock_master_update_start"), {"source": source}
        ).fetchone()[0]

    try:
        issues = read_listed_issues(source)
        with pool.connection() as conn:
            result = _merge(conn, update_id, source, issues)
    except Exception as exc:
        _record_failure(pool, update_id, exc)
        raise

    log.info(
        "stock_master refresh %s from %s: %d issues, %d added, %d changed, "
        "%d delisted, %d relisted",
        update_id,
        source,
        result.total_issues,
        result.added,
        result.changed,
        result.delisted,
        result.relisted,
    )
    return result


def active_universe(database_url: str | None = None) -> list[str]:
    """Return the symbols of the daily universe: active ordinary shares, by code."""
    with get_pool(database_url).connection() as conn:
        rows = conn.execute(load_sql("stock_master_universe")).fetchall()
    return [row[0] for row in rows]


def read_listed_issues(source: str) -> list[ListedIssue]:
    """Read and check the list at `source` (URL or path); raise like the refresh."""
    text = _decode(_read_bytes(source), source)
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    if header != list(COLUMNS):
        raise ListedIssuesError(
            f"{source}: expected the columns {', '.join(COLUMNS)}, got {header[:10]}"
        )

    issues = [_issue(row, number) for number, row in enumerate(reader, start=2) if row]
    _check_issues(issues, source)
    return issues


def _merge(conn, update_id: int, source: str, issues: list[ListedIssue]):
    list_date = max(issue.list_date for issue in issues)
    newest = conn.execute(load_sql("stock_master_newest_list_date")).fetchone()[0]
    if newest is not None and list_date < newest:
        # An older list would delist everything listed since it was published.
        raise ListedIssuesError(
            f"{source} is the list of {list_date}, older than the loaded {newest}"
        )

    with conn.cursor() as cur:
        cur.execute(load_sql("stock_master_staging_create"))
        with cur.copy(load_sql("stock_master_staging_copy")) as copy:
            for issue in issues:
                copy.write_row(astuple(issue))
        counts = cur.execute(load_sql("stock_master_merge")).fetchone()

    result = RefreshResult(update_id, source, list_date, *counts)
    conn.execute(load_sql("stock_master_update_complete"), asdict(result))
    return result


def _record_failure(pool, update_id: int, exc: Exception) -> None:
    message = f"{type(exc).__name__}: {exc}"
    with pool.connection() as conn:
        conn.execute(
            load_sql("stock_master_update_fail"),
            {"update_id": update_id, "error_message": message},
        )
    log.error("stock_master refresh %s failed: %s", update_id, message)


def _read_bytes(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        return _download(source)
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ListedIssuesError(f"cannot read {source}: {exc}") from exc


def _download(url: str) -> bytes:
    try:
        response = httpx.get(url, timeout=DOWNLOAD_TIMEOUT, follow_redirects=True)
    except httpx.TransportError as exc:
        raise RetryableError(f"download of {url} failed: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"download of {url} answered {response.status_code}")
    if response.status_code != 200:
        raise ListedIssuesError(f"download of {url} answered {response.status_code}")
    return response.content


def _decode(raw: bytes, source: str) -> str:
    # JPX has published both encodings; a UTF-8 file may start with a byte-order mark.
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ListedIssuesError(f"{source} is neither UTF-8 nor Shift_JIS text")


def _issue(row: list[str], number: int) -> ListedIssue:
    if len(row) != len(COLUMNS):
        raise ListedIssuesError(f"line {number}: {len(row)} fields, not {len(COLUMNS)}")
    values = dict(zip(COLUMNS.values(), (_value(field) for field in row), strict=True))

    code = (values["code"] or "").upper()
    if not _is_jpx_code(code):
        raise ListedIssuesError(f"line {number}: {values['code']!r} is not a JPX code")
    if not values["name"]:
        raise ListedIssuesError(f"line {number}: code {code} has no name")
    values.update(code=code, symbol=f"{code}.T", list_date=_date(values, number))
    return ListedIssue(**values)


def _is_jpx_code(code: str) -> bool:
    # Four characters by kabuflow.symbols' rule; a fifth digit marks another class of
    # the same issuer's shares (25935: ITO EN's preferred shares).
    if len(code) == 5 and not code[4].isdigit() or len(code) not in (4, 5):
        return False
    try:
        return is_tokyo_symbol(normalize_symbol(code[:4]))
    except InvalidRequestError:
        return False


def _value(field: str) -> str | None:
    value = field.strip()
    return None if value in ("", NONE_MARK) else value


def _date(values: dict, number: int) -> dt.date:
    try:
        return dt.datetime.strptime(values["list_date"] or "", "%Y%m%d").date()
    except ValueError:
        raise ListedIssuesError(
            f"line {number}: {values['list_date']!r} is not a YYYYMMDD date"
        ) from None


def _check_issues(issues: list[ListedIssue], source: str) -> None:
    if not issues:
        # An empty list would delist every issue.
        raise ListedIssuesError(f"{source} lists no issues")
    seen: set[str] = set()
    for issue in issues:
        if issue.code in seen:
            raise ListedIssuesError(f"{source} lists code {issue.code} twice")
        seen.add(issue.code)
