"""Apply, roll back and inspect the app database schema (`sql/migrations/*.sql`).

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
    # Use it in a `with` block: the backend's connection stays open until then, and a
    # leaked one stays open until garbage collection and blocks DROP DATABASE.
    url = database_url or get_settings().database_url
    # yoyo picks its driver from the scheme: psycopg 3 is "postgresql+psycopg".
    scheme, rest = url.split("://", 1)
    if scheme.startswith("postgres"):
        url = f"postgresql+psycopg://{rest}"
    return get_backend(url)


def upgrade(database_url: str | None = None) -> list[str]:
    """Apply every migration not yet applied; return the ids applied now."""
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with _backend(database_url) as backend, backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    applied = [m.id for m in pending]
    log.info("applied %d migration(s): %s", len(applied), applied)
    return applied


def downgrade(database_url: str | None = None, steps: int | None = 1) -> list[str]:
    """Roll back the newest `steps` applied migrations (`None`: all); return their ids.

    Raises ValueError when `steps` is below 1.
    """
    if steps is not None and steps < 1:
        # A negative slice would silently keep the oldest migrations and undo the rest.
        raise ValueError(f"steps must be at least 1, got {steps}")
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with _backend(database_url) as backend, backend.lock():
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
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with _backend(database_url) as backend:
        return [(m.id, backend.is_applied(m)) for m in migrations]
