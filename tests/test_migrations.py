"""Schema migrations: a full cycle on an empty database, the CLI, the batch tables."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from testdb import TEST_DATABASE_URL

from kabuflow import migrations
from kabuflow.cli import main

EXPECTED_IDS = sorted(
    path.name.removesuffix(".sql")
    for path in migrations.MIGRATIONS_DIR.glob("*.sql")
    if not path.name.endswith(".rollback.sql")
)

# The schema as the catalog sees it, so that a no-op upgrade can be proven to be one.
SCHEMA_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, character_maximum_length,
               is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = 'public'
        ORDER BY table_name, column_name""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' ORDER BY 1, 2""",
    "views": """
        SELECT viewname, definition FROM pg_views
        WHERE schemaname = 'public' ORDER BY 1""",
    "relations": """
        SELECT relname, relkind FROM pg_class
        WHERE relnamespace = 'public'::regnamespace ORDER BY 1""",
}


def _url_for(dbname: str) -> str:
    params = conninfo_to_dict(TEST_DATABASE_URL)
    params["dbname"] = dbname
    return make_conninfo(**params)


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(_url_for("postgres"), autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def empty_database_url():
    """A brand-new database with nothing in it, dropped after the test."""
    name = conninfo_to_dict(TEST_DATABASE_URL)["dbname"] + "_migrations"
    ident = sql.Identifier(name)
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
    _admin(sql.SQL("CREATE DATABASE {}").format(ident))
    # yoyo needs a URL, not a libpq keyword string.
    yield urlunsplit(urlsplit(TEST_DATABASE_URL)._replace(path=f"/{name}"))
    _admin(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))


def schema_dump(url: str) -> dict[str, list[tuple]]:
    """Return the public schema's columns, constraints, indexes, views and relations."""
    with psycopg.connect(url) as conn:
        return {
            part: conn.execute(query).fetchall()
            for part, query in SCHEMA_QUERIES.items()
        }


def app_relations(dump: dict[str, list[tuple]]) -> set[str]:
    """Names in the dump that are not yoyo's own bookkeeping."""
    names = {name for name, _kind in dump["relations"]}
    return {name for name in names if "yoyo" not in name}


def connections_to(url: str) -> int:
    dbname = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_url_for("postgres")) as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        return conn.execute(query, (dbname,)).fetchone()[0]


def test_full_cycle_on_an_empty_database(empty_database_url):
    url = empty_database_url
    assert migrations.current(url) is None
    assert migrations.status(url) == [(mid, False) for mid in EXPECTED_IDS]

    assert migrations.upgrade(url) == EXPECTED_IDS
    first = schema_dump(url)
    assert {"batch_executions", "batch_execution_details"} <= app_relations(first)
    assert migrations.current(url) == EXPECTED_IDS[-1]

    assert migrations.upgrade(url) == []
    assert schema_dump(url) == first
    assert migrations.status(url) == [(mid, True) for mid in EXPECTED_IDS]

    assert migrations.downgrade(url, steps=1) == [EXPECTED_IDS[-1]]
    assert migrations.current(url) == EXPECTED_IDS[-2]

    assert migrations.downgrade(url, steps=None) == EXPECTED_IDS[-2::-1]
    assert migrations.current(url) is None
    assert app_relations(schema_dump(url)) == set()

    assert migrations.upgrade(url) == EXPECTED_IDS
    assert schema_dump(url) == first
    assert connections_to(url) == 0, "a migration call left its connection open"


def test_downgrade_refuses_a_step_count_below_one(empty_database_url):
    migrations.upgrade(empty_database_url)

    for steps in (0, -1):
        with pytest.raises(ValueError, match="steps"):
            migrations.downgrade(empty_database_url, steps=steps)

    assert migrations.current(empty_database_url) == EXPECTED_IDS[-1]


def test_cli_db_commands(empty_database_url, capsys):
    url = ["--database-url", empty_database_url]

    assert main(["db", "current", *url]) == 0
    assert capsys.readouterr().out == "(empty database)\n"

    assert main(["db", "upgrade", *url]) == 0
    assert capsys.readouterr().out == f"applied: {', '.join(EXPECTED_IDS)}\n"

    assert main(["db", "upgrade", *url]) == 0
    assert capsys.readouterr().out == "applied: nothing (up to date)\n"

    assert main(["db", "status", *url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"applied  {mid}" for mid in EXPECTED_IDS]

    assert main(["db", "current", *url]) == 0
    assert capsys.readouterr().out == f"{EXPECTED_IDS[-1]}\n"

    assert main(["db", "downgrade", *url]) == 0
    assert capsys.readouterr().out == f"rolled back: {EXPECTED_IDS[-1]}\n"

    assert main(["db", "downgrade", "--all", *url]) == 0
    rolled = ", ".join(reversed(EXPECTED_IDS[:-1]))
    assert capsys.readouterr().out == f"rolled back: {rolled}\n"
    assert migrations.current(empty_database_url) is None


def test_cli_reads_the_database_url_from_the_environment(
    empty_database_url, monkeypatch, capsys
):
    monkeypatch.setenv("KABUFLOW_DATABASE_URL", empty_database_url)
    assert main(["db", "upgrade"]) == 0
    assert migrations.current(empty_database_url) == EXPECTED_IDS[-1]

    monkeypatch.setenv("KABUFLOW_DATABASE_URL", "mysql://root@127.0.0.1/kabuflow")
    assert main(["db", "current"]) == 2
    assert "KABUFLOW_DATABASE_URL" in capsys.readouterr().err


def _columns(conn, table: str) -> dict[str, tuple]:
    rows = conn.execute(
        """SELECT column_name, data_type, column_default
           FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name = %s""",
        (table,),
    ).fetchall()
    return {name: (data_type, default) for name, data_type, default in rows}


TSTZ = "timestamp with time zone"
VARCHAR = "character varying"
ORIGINAL_BATCH_COLUMNS = {
    "batch_type": VARCHAR,
    "status": VARCHAR,
    "total_stocks": "integer",
    "processed_stocks": "integer",
    "successful_stocks": "integer",
    "failed_stocks": "integer",
    "start_time": TSTZ,
    "end_time": TSTZ,
    "error_message": "text",
    "created_at": TSTZ,
}
ORIGINAL_DETAIL_COLUMNS = {
    "batch_execution_id": "integer",
    "stock_code": VARCHAR,
    "status": VARCHAR,
    "start_time": TSTZ,
    "end_time": TSTZ,
    "error_message": "text",
    "records_inserted": "integer",
    "created_at": TSTZ,
}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("batch_executions", ORIGINAL_BATCH_COLUMNS),
        ("batch_execution_details", ORIGINAL_DETAIL_COLUMNS),
    ],
)
def test_batch_tables_keep_the_original_columns(conn, table, expected):
    columns = _columns(conn, table)

    id_type, id_default = columns["id"]
    assert id_type == "integer"
    assert id_default == f"nextval('{table}_id_seq'::regclass)"
    for name, data_type in expected.items():
        assert columns[name][0] == data_type, name


def test_details_reference_their_batch_with_cascade(conn):
    fk = conn.execute(
        """SELECT confrelid::regclass::text, confdeltype,
                  array(SELECT attname FROM pg_attribute
                        WHERE attrelid = conrelid AND attnum = ANY(conkey))
           FROM pg_constraint
           WHERE conrelid = 'batch_execution_details'::regclass AND contype = 'f'"""
    ).fetchall()
    assert fk == [("batch_executions", "c", ["batch_execution_id"])]

    batch_id = conn.execute(
        "INSERT INTO batch_executions (batch_type) VALUES ('t') RETURNING id"
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO batch_execution_details (batch_execution_id, stock_code) "
        "VALUES (%s, '7203.T')",
        (batch_id,),
    )
    conn.execute("DELETE FROM batch_executions WHERE id = %s", (batch_id,))
    assert conn.execute("SELECT count(*) FROM batch_execution_details").fetchone() == (
        0,
    )


def test_details_are_unique_per_batch_and_symbol(conn):
    keys = conn.execute(
        """SELECT array(SELECT attname FROM pg_attribute
                        WHERE attrelid = conrelid AND attnum = ANY(conkey)
                        ORDER BY array_position(conkey, attnum))
           FROM pg_constraint
           WHERE conrelid = 'batch_execution_details'::regclass AND contype = 'u'"""
    ).fetchall()
    assert keys == [(["batch_execution_id", "stock_code"],)]

    batch_id = conn.execute(
        "INSERT INTO batch_executions (batch_type) VALUES ('t') RETURNING id"
    ).fetchone()[0]
    insert = (
        "INSERT INTO batch_execution_details (batch_execution_id, stock_code) "
        "VALUES (%s, '7203.T')"
    )
    conn.execute(insert, (batch_id,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, (batch_id,))


def test_status_checks_reject_an_unknown_status(conn):
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO batch_executions (batch_type, status) VALUES ('t', 'done')"
        )
    batch_id = conn.execute(
        "INSERT INTO batch_executions (batch_type, status) "
        "VALUES ('t', 'cancelled') RETURNING id"
    ).fetchone()[0]
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO batch_execution_details (batch_execution_id, stock_code, "
            "status) VALUES (%s, '7203.T', 'succeeded')",
            (batch_id,),
        )
