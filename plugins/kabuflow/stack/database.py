"""Make sure the Airflow metadata database exists on its PostgreSQL server."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from kabuflow.errors import StackError
from kabuflow.sqlfiles import load_sql

log = logging.getLogger(__name__)

MAINTENANCE_DATABASE = "postgres"


def libpq_url(url: str) -> str:
    """Return a SQLAlchemy URL (`postgresql+psycopg://...`) as a plain libpq URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in {"postgresql", "postgres"}:
        raise StackError(f"expected a postgresql:// database URL, got {scheme}://")
    return urlunsplit(parts._replace(scheme="postgresql"))


def database_name(url: str) -> str:
    """Return the database named in `url`."""
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise StackError("the metadata database URL names no database")
    return name


def ensure_database(url: str) -> bool:
    """Create the database named in `url` unless it exists; return True if created.

    Connects to the server's `postgres` database with the same credentials. Raises
    `StackError` when the server cannot be reached.
    """
    name = database_name(url)
    try:
        with psycopg.connect(
            maintenance_url(url), autocommit=True, connect_timeout=10
        ) as conn:
            exists = conn.execute(load_sql("stack_database_exists"), {"name": name})
            if exists.fetchone():
                return False
            create = sql.SQL(load_sql("stack_database_create"))
            conn.execute(create.format(name=sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise StackError(f"cannot reach PostgreSQL for database {name}: {exc}") from exc
    log.info("created database %s", name)
    return True


def maintenance_url(url: str) -> str:
    """Return the libpq URL of the server's `postgres` database, same credentials."""
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(path=MAINTENANCE_DATABASE))
