"""Loading the listed-issues list into `stock_master`: diffed in SQL, logged per run."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from pathlib import Path

import pytest

from kabuflow.errors import RetryableError
from kabuflow.stock_master import (
    BUNDLED_LIST,
    COLUMNS,
    ListedIssuesError,
    active_universe,
    read_listed_issues,
    refresh_stock_master,
)

SHARED_LIST = Path("/work/shared/data/jpx_listed_2024-03-29.csv")
FULL_LIST = BUNDLED_LIST if BUNDLED_LIST.exists() else SHARED_LIST

PRIME = "プライム（内国株式）"
TOYOTA = f"7203,トヨタ自動車,{PRIME},3700,輸送用機器,6,自動車・輸送機,1,TOPIX Core30"
SONY = f"6758,ソニーグループ,{PRIME},3650,電気機器,5,電機・精密,1,TOPIX Core30"
ETF = "1306,ＮＥＸＴ　ＦＵＮＤＳ　ＴＯＰＩＸ連動型上場投信,ETF・ETN,-,-,-,-,-,-"
NEW = "130A,ベリテ,グロース（内国株式）,6100,小売業,14,小売,-,-"


def write_list(path: Path, day: str, *rows: str, encoding: str = "utf-8") -> str:
    lines = [",".join(COLUMNS)] + [f"{day},{row}" for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return str(path)


def master(conn) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT code, symbol, name, is_active, delisted_at IS NOT NULL, sector33_code"
        " FROM stock_master"
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def updates(conn) -> list[tuple]:
    return conn.execute(
        "SELECT status, list_date, total_issues, added, changed, delisted, relisted,"
        " error_message FROM stock_master_updates ORDER BY id"
    ).fetchall()


def counts(result) -> tuple[int, ...]:
    return (result.added, result.changed, result.delisted, result.relisted)


def test_the_full_list_loads_once_and_a_reload_changes_nothing(conn):
    first = refresh_stock_master(str(FULL_LIST))
    again = refresh_stock_master(str(FULL_LIST))

    assert first.total_issues == 4354
    assert counts(first) == (4354, 0, 0, 0)
    assert again.total_issues == 4354
    assert counts(again) == (0, 0, 0, 0)
    stored = master(conn)
    assert stored["7203"] == ("7203.T", "トヨタ自動車", True, False, "3700")
    # Letters in codes (issued since 2024) stay text; `-` is stored as NULL.
    assert stored["130A"][0] == "130A.T"
    assert stored["1306"][4] is None
    assert [row[:7] for row in updates(conn)] == [
        ("completed", dt.date(2024, 3, 29), 4354, 4354, 0, 0, 0),
        ("completed", dt.date(2024, 3, 29), 4354, 0, 0, 0, 0),
    ]


def test_universe_holds_active_ordinary_shares_only(conn):
    refresh_stock_master(str(FULL_LIST))

    universe = active_universe()

    # The file holds 4,354 issues (its README says 4,353): less 414 funds (ETFs,
    # REITs, 出資証券) and 102 PRO Market issues.
    assert len(universe) == 3838
    assert {"7203.T", "25935.T", "130A.T"} <= set(universe)
    assert not {"1306.T", "131A.T", "8301.T"} & set(universe)


def test_new_changed_delisted_and_relisted_issues_are_told_apart(conn, tmp_path):
    renamed = TOYOTA.replace("トヨタ自動車", "トヨタ")
    march = write_list(tmp_path / "a.csv", "20240329", TOYOTA, SONY, ETF)
    april = write_list(tmp_path / "b.csv", "20240430", renamed, ETF, NEW)
    may = write_list(tmp_path / "c.csv", "20240531", renamed, SONY, ETF, NEW)

    results = [refresh_stock_master(source) for source in (march, april, may)]

    assert [counts(result) for result in results] == [
        (3, 0, 0, 0),
        (1, 1, 1, 0),
        (0, 0, 0, 1),
    ]
    stored = master(conn)
    assert stored["7203"][1] == "トヨタ"
    assert stored["6758"][2:4] == (True, False)
    assert set(active_universe()) == {"7203.T", "6758.T", "130A.T"}


def test_a_delisted_code_is_kept_inactive(conn, tmp_path):
    refresh_stock_master(write_list(tmp_path / "a.csv", "20240329", TOYOTA, SONY))
    refresh_stock_master(write_list(tmp_path / "b.csv", "20240430", TOYOTA))

    assert master(conn)["6758"][2:4] == (False, True)
    assert active_universe() == ["7203.T"]


def test_an_older_list_is_refused_and_recorded(conn, tmp_path):
    refresh_stock_master(write_list(tmp_path / "new.csv", "20240430", TOYOTA, SONY))

    with pytest.raises(ListedIssuesError, match="older"):
        refresh_stock_master(write_list(tmp_path / "old.csv", "20240329", TOYOTA))

    assert master(conn)["6758"][2] is True
    assert [row[0] for row in updates(conn)] == ["completed", "failed"]
    assert "older than the loaded 2024-04-30" in updates(conn)[1][7]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("code,name\n7203,Toyota\n", "expected the columns"),
        (",".join(COLUMNS) + "\n", "lists no issues"),
        (",".join(COLUMNS) + f"\n20240329,{TOYOTA}\n20240329,{TOYOTA}\n", "twice"),
        (",".join(COLUMNS) + "\n20240329,72O3,x,-,-,-,-,-,-,-\n", "not a JPX code"),
        (",".join(COLUMNS) + "\n2024-03-29,7203,x,-,-,-,-,-,-,-\n", "YYYYMMDD"),
        (",".join(COLUMNS) + "\n20240329,7203,x,-\n", "4 fields"),
    ],
)
def test_a_malformed_list_changes_nothing(conn, tmp_path, content, problem):
    refresh_stock_master(write_list(tmp_path / "good.csv", "20240329", TOYOTA))
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")

    with pytest.raises(ListedIssuesError, match=problem):
        refresh_stock_master(str(bad))

    assert master(conn) == {"7203": ("7203.T", "トヨタ自動車", True, False, "3700")}
    assert [row[0] for row in updates(conn)] == ["completed", "failed"]


def test_a_missing_file_is_recorded_as_failed(conn, tmp_path):
    with pytest.raises(ListedIssuesError, match="cannot read"):
        refresh_stock_master(str(tmp_path / "absent.csv"))

    assert updates(conn)[0][0] == "failed"


def test_shift_jis_lists_are_read(tmp_path):
    path = write_list(tmp_path / "sjis.csv", "20240329", TOYOTA, encoding="cp932")

    issues = read_listed_issues(path)

    assert [(issue.code, issue.name) for issue in issues] == [("7203", "トヨタ自動車")]


class _ListHandler(http.server.BaseHTTPRequestHandler):
    body = b""
    status = 200

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def list_server(tmp_path):
    """Serve a listed-issues list on 127.0.0.1; yields (handler class, url)."""
    handler = type("Handler", (_ListHandler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_port}/data_j.csv"
    server.shutdown()
    server.server_close()


def test_a_list_is_read_from_a_url(conn, tmp_path, list_server):
    handler, url = list_server
    handler.body = Path(write_list(tmp_path / "a.csv", "20240329", TOYOTA)).read_bytes()

    result = refresh_stock_master(url)

    assert counts(result) == (1, 0, 0, 0)
    assert conn.execute("SELECT source FROM stock_master_updates").fetchone()[0] == url


@pytest.mark.parametrize(
    ("status", "error"), [(503, RetryableError), (404, ListedIssuesError)]
)
def test_a_failed_download_says_whether_to_retry(conn, list_server, status, error):
    handler, url = list_server
    handler.status = status

    with pytest.raises(error, match=str(status)):
        refresh_stock_master(url)

    assert updates(conn)[0][0] == "failed"
