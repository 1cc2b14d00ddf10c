"""Load the SQL statements kabuflow runs from `sql/queries/<name>.sql`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parents[2] / "sql" / "queries"


@cache
def load_sql(name: str) -> str:
    """Return the text of `sql/queries/<name>.sql`; FileNotFoundError if absent."""
    return (QUERIES_DIR / f"{name}.sql").read_text(encoding="utf-8")
