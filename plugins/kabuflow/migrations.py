"""Apply, roll back and inspect the app database schema (the `.sql` files in `sql/migrations`).

yoyo-migrations runs each file in its own transaction and records what it applied, so
`upgrade` twice changes nothing. A file `NNNN_name.sql` is undone by
`NNNN_name.rollback.sql`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

from kabuflow.settings import get_settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "migrations"


def _backend(database_url: str | None):
    url = database_url or get_settings().database_url
    # yoyo picks its driver from the scheme: psycopg 3 is "postgresql+psycopg".
    scheme, rest = url.split("://", 1)
    return get_backend(f"postgresql+psycopg://{rest}" if scheme.startswith("postgres") else url)


def upgrade(database_url: str | None = None) -> list[str]:
    """Apply every migration not yet applied; return the ids applied now."""
    backend = _backend(database_url)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    applied = [m.id for m in pending]
    log.info("applied %d migration(s): %s", len(applied), applied)
    return applied


def downgrade(database_url: str | None = None, steps: int | None = 1) -> list[str]:
    """Roll back the newest `steps` applied migrations (`None`: all); return their ids."""
    backend = _backend(database_url)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        applied = backend.to_rollback(migrations)
        chosen = applied if steps is None else applied[:steps]
        backend.rollback_migrations(chosen)
    ids = [m.id for m in chosen]
    log.info("rolled back %d migration(s): %s", len(ids), ids)
    return ids


def current(database_url: str | None = None) -> str | None:
    """Return the id of the newest applied migration, or None on an empty database."""
    applied = status(database_url)
    done = [mid for mid, is_applied in applied if is_applied]
    return done[-1] if done else None


def status(database_url: str | None = None) -> list[tuple[str, bool]]:
    """Return every known migration id, oldest first, with whether it is applied."""
    backend = _backend(database_url)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    return [(m.id, backend.is_applied(m)) for m in migrations]
