"""The replay server, through yfinance's own code and over plain HTTP.

Expected values are read here from the bundled CSV files with Python's `float()`,
independently of the server's parquet/CSV reader, so every digit is checked.
"""

from __future__ import annotations

import csv
import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yfinance as yf
import yfinance.base
import yfinance.cache
from curl_cffi import requests as curl_requests
from yfinance.data import YfData
from yfinance.exceptions import (
    YFPricesMissingError,
    YFRateLimitError,
    YFTzMissingError,
)

from kabuflow.replay import ReplayServer, Scenario, load_store
from kabuflow.replay.errors import DataSourceError, ScenarioError
from kabuflow.replay.server import SAMPLE_DIR, SAMPLE_SOURCES
from kabuflow.yahoo_session import RefusedHostError, make_session

TOYOTA_CSV = SAMPLE_DIR / "tse_full_history" / "7203.T.csv"
UNADJUSTED = SAMPLE_DIR / "tse_unadjusted_2016_2020"
TOKYO_OPEN_UTC = dt.time(0, 0)  # 09:00 JST


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def store():
    return load_store(SAMPLE_SOURCES)


@pytest.fixture(scope="module")
def server(store):
    replay = ReplayServer(store=store)
    with replay.running():
        yield replay


@pytest.fixture(scope="module")
def session(server, tmp_path_factory):
    # yfinance keeps its tz cache, cookie cache and a response cache per process.
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance-cache")))
    return make_session(server.url, timeout=10)


@pytest.fixture(autouse=True)
def clean_yfinance(request, monkeypatch):
    hidden = yf.config.debug.hide_exceptions
    yf.config.debug.hide_exceptions = False
    # After two failed time-zone lookups yfinance stops trying `.info` for the
    # rest of the process; each test starts from a fresh process's state.
    monkeypatch.setattr(yfinance.base, "_tz_info_fetch_ctr", 0)
    YfData.cache_get.cache_clear()
    yield
    yf.config.debug.hide_exceptions = hidden
    if "server" in request.fixturenames:
        server = request.getfixturevalue("server")
        server.set_scenario(Scenario())
        server.state.reset_stats()


def history(session, symbol, **kwargs):
    kwargs.setdefault("interval", "1d")
    return yf.Ticker(symbol, session=session).history(
        auto_adjust=False, actions=True, **kwargs
    )


def forget_timezone(symbol):
    yfinance.cache.get_tz_cache().store(symbol, None)


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def toyota_rows(start: str, end: str) -> list[dict]:
    return [r for r in read_csv(TOYOTA_CSV) if start <= r["Date"] < end]


def dates_of(frame) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in frame.index]


def assert_adjusted_rows_equal(frame, rows):
    """Compare a yfinance frame with rows of an adjusted-only CSV, digit for digit."""
    assert dates_of(frame) == [r["Date"] for r in rows]
    for column in ("Open", "High", "Low", "Close"):
        assert frame[column].tolist() == [float(r[column]) for r in rows], column
    assert frame["Adj Close"].tolist() == [float(r["Close"]) for r in rows]
    assert frame["Volume"].tolist() == [int(float(r["Volume"])) for r in rows]
    assert frame["Dividends"].tolist() == [float(r["Dividends"]) for r in rows]
    assert frame["Stock Splits"].tolist() == [float(r["Stock Splits"]) for r in rows]


def chart(server, symbol, crumb, **params):
    params = {"interval": "1d", "crumb": crumb, **params}
    return httpx.get(f"{server.url}/v8/finance/chart/{symbol}", params=params)


@pytest.fixture(scope="module")
def crumb(server):
    with httpx.Client(base_url=server.url) as client:
        client.get("/")
        return client.get("/v1/test/getcrumb").text


# --- prices through yfinance ------------------------------------------------------


def test_one_year_of_daily_bars_equals_the_recorded_data(session):
    frame = history(session, "7203.T", period="1y")

    # The clock is 2022-09-17 00:00 UTC (09:00 JST): one year back is 2021-09-17.
    assert_adjusted_rows_equal(frame, toyota_rows("2021-09-17", "2022-09-17"))
    assert frame.loc["2021-09-29", "Stock Splits"] == 5.0
    assert frame.loc["2022-03-30", "Dividends"] == 28.0
    assert str(frame.index.tz) == "Asia/Tokyo"


def test_start_and_end_select_sessions_with_end_exclusive(session):
    frame = history(session, "7203.T", start="2021-09-27", end="2021-10-04")

    assert_adjusted_rows_equal(frame, toyota_rows("2021-09-27", "2021-10-04"))
    assert dates_of(frame)[-1] == "2021-10-01"


def test_weekly_bars_aggregate_the_daily_ones(session):
    frame = history(
        session, "7203.T", start="2022-01-03", end="2022-04-04", interval="1wk"
    )

    rows = toyota_rows("2022-01-03", "2022-04-04")
    weeks: dict[str, list[dict]] = {}
    for row in rows:
        day = dt.date.fromisoformat(row["Date"])
        monday = day - dt.timedelta(days=day.weekday())
        weeks.setdefault(monday.isoformat(), []).append(row)
    assert dates_of(frame) == list(weeks)
    for monday, days in weeks.items():
        bar = frame.loc[monday]
        assert bar["Open"] == float(days[0]["Open"])
        assert bar["High"] == max(float(r["High"]) for r in days)
        assert bar["Low"] == min(float(r["Low"]) for r in days)
        assert bar["Close"] == float(days[-1]["Close"])
        assert bar["Volume"] == sum(int(r["Volume"]) for r in days)
    assert frame.loc["2022-03-28", "Dividends"] == 28.0


@pytest.mark.parametrize("symbol", ["TM", "JPYUSD=X"])
def test_raw_and_adjusted_prices_keep_every_digit(session, symbol):
    frame = history(session, symbol, start="2015-12-01", end="2021-01-05")

    rows = read_csv(UNADJUSTED / f"{symbol}.csv")
    # The files hold the UTC date of each bar's stamp (see kabuflow.replay.sources).
    utc_dates = [d.strftime("%Y-%m-%d") for d in frame.index.tz_convert("UTC")]
    assert utc_dates == [r["Date"] for r in rows]
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        assert frame[column].tolist() == [float(r[column]) for r in rows], column
    assert frame["Volume"].tolist() == [int(float(r["Volume"])) for r in rows]
    if symbol == "JPYUSD=X":
        assert frame["Close"].iloc[0] == 0.008302200585603714
        assert str(frame.index.tz) == "Europe/London"
        # London's currency bars fall on weekdays in summer too (00:00 BST).
        assert {day.weekday() for day in frame.index} == {0, 1, 2, 3, 4}
        assert dt.date(2020, 5, 1) in {day.date() for day in frame.index}
    else:
        assert frame["Close"].iloc[0] != frame["Adj Close"].iloc[0]
        assert str(frame.index.tz) == "America/New_York"


def test_unknown_symbol_raises_yfinance_errors(session):
    # In a fresh process yfinance falls back to `.info` (quoteSummary), which 404s.
    with pytest.raises(curl_requests.exceptions.HTTPError, match="404"):
        history(session, "9999999.T", period="1mo")

    yfinance.base._tz_info_fetch_ctr = 2
    with pytest.raises(YFPricesMissingError, match="No data found, symbol may be"):
        history(session, "9999999.T", period="1mo")
    with pytest.raises(YFTzMissingError):
        history(session, "9999999.T", start="2022-01-04", end="2022-01-20")


# --- scenarios through yfinance ---------------------------------------------------


def test_rate_limited_symbol_raises_yfinance_rate_limit(server, session):
    server.set_scenario({"rate_limit": {"symbols": ["7203.t"]}})

    with pytest.raises(YFRateLimitError):
        history(session, "7203.T", period="1mo")
    assert len(history(session, "6758.T", period="1mo")) > 15


def test_rate_limit_by_request_number_counts_chart_requests_server_wide(
    server, session
):
    # Request 1 is 6758.T's time-zone lookup; 2 its history, 3 yfinance's retry.
    server.set_scenario({"rate_limit": {"requests": [[2, 3]]}})
    forget_timezone("6758.T")
    forget_timezone("9984.T")

    with pytest.raises(YFRateLimitError):
        history(session, "6758.T", period="1mo")
    assert len(history(session, "9984.T", period="1mo")) > 15
    stats = server.state.stats()
    assert stats["chart_requests_since_scenario"] == 5
    assert stats["by_status"]["429"] == 2


def test_timezone_failure_fails_only_that_symbol(server, session):
    server.set_scenario({"tz_failure": ["6758.T"]})
    forget_timezone("6758.T")
    forget_timezone("7203.T")

    # Fresh process: the `.info` fallback asks quoteSummary, which fails too.
    with pytest.raises(curl_requests.exceptions.HTTPError, match="500"):
        history(session, "6758.T", start="2022-01-04", end="2022-01-20")
    yfinance.base._tz_info_fetch_ctr = 2
    with pytest.raises(YFTzMissingError):
        history(session, "6758.T", start="2022-01-04", end="2022-01-20")

    assert len(history(session, "7203.T", start="2022-01-04", end="2022-01-20")) == 11
    # Only the lookup fails: a history request for 6758.T itself is served.
    assert len(history(session, "6758.T", period="1mo")) > 15
    counts = server.state.stats()["by_symbol"]["6758.T"]
    assert counts["quote"] == 2  # quoteSummary, then yfinance's one retry
    assert counts["tz_lookup"] >= 2


def test_split_re_serves_history_adjusted_with_the_split_event(server, session):
    server.set_scenario({"split": {"7203.T": {"date": "2022-09-01", "ratio": 5}}})

    frame = history(session, "7203.T", start="2022-08-29", end="2022-09-06")

    rows = toyota_rows("2022-08-29", "2022-09-06")
    assert dates_of(frame) == [r["Date"] for r in rows]
    for (_, bar), row in zip(frame.iterrows(), rows, strict=True):
        factor = 5 if row["Date"] < "2022-09-01" else 1
        assert bar["Close"] == float(row["Close"]) / factor
        assert bar["Adj Close"] == float(row["Close"]) / factor
        assert bar["Volume"] == int(row["Volume"]) * factor
    assert frame["Stock Splits"].tolist() == [0, 0, 0, 5.0, 0, 0]


def test_removed_trading_day_is_missing(server, session):
    server.set_scenario({"remove_days": {"7203.T": ["2022-05-02"]}})

    frame = history(session, "7203.T", start="2022-04-28", end="2022-05-10")

    recorded = [r["Date"] for r in toyota_rows("2022-04-28", "2022-05-10")]
    assert recorded == ["2022-04-28", "2022-05-02", "2022-05-06", "2022-05-09"]
    assert dates_of(frame) == ["2022-04-28", "2022-05-06", "2022-05-09"]


def test_delay_slows_only_that_symbol(server, session):
    server.set_scenario({"delay": {"7203.T": 0.6}})
    forget_timezone("6758.T")
    forget_timezone("7203.T")

    started = time.monotonic()
    history(session, "6758.T", period="5d")
    fast = time.monotonic() - started
    started = time.monotonic()
    history(session, "7203.T", period="5d")
    slow = time.monotonic() - started

    # Two chart requests (time-zone lookup and history), 0.6 s each.
    assert slow >= 1.2
    assert fast < 0.6


def test_stats_count_requests_per_route_and_symbol(server, session):
    forget_timezone("9984.T")
    history(session, "9984.T", period="1mo")

    stats = httpx.get(f"{server.url}/__replay/stats").json()
    assert stats["by_symbol"]["9984.T"] == {"chart": 2, "tz_lookup": 1}
    assert stats["by_route"]["/v8/finance/chart/<path:symbol>"] == 2
    assert stats["by_status"] == {"200": stats["requests"]}
    httpx.delete(f"{server.url}/__replay/stats")
    assert httpx.get(f"{server.url}/__replay/stats").json()["requests"] == 0


def test_intraday_bars_come_only_from_a_scenario_and_stop_at_the_clock(server, session):
    with pytest.raises(YFPricesMissingError, match="recorded daily bars only"):
        history(session, "7203.T", period="1d", interval="5m")

    bars = [
        {
            "time": f"2022-09-16T09:{m:02d}:00+09:00",
            "open": 2020 + m,
            "high": 2030 + m,
            "low": 2010 + m,
            "close": 2025 + m,
            "volume": 1000 + m,
        }
        for m in range(0, 30, 5)
    ]
    server.set_scenario(
        {"now": "2022-09-16T00:12:00Z", "intraday": {"7203.T": {"5m": bars}}}
    )
    YfData.cache_get.cache_clear()
    frame = history(session, "7203.T", period="1d", interval="5m")

    assert [t.strftime("%H:%M") for t in frame.index] == ["09:00", "09:05", "09:10"]
    assert frame["Close"].tolist() == [2025.0, 2030.0, 2035.0]
    assert frame["Volume"].tolist() == [1000, 1005, 1010]


def test_intraday_limits_are_refused_as_yahoo_refuses_them(session):
    with pytest.raises(YFPricesMissingError, match="Only 8 days worth of 1m"):
        history(session, "7203.T", period="1mo", interval="1m")
    with pytest.raises(YFPricesMissingError, match="within the last 60 days"):
        history(session, "7203.T", period="6mo", interval="15m")


def test_server_error_500_reaches_yfinance_as_yahoo_reason(server, session):
    server.set_scenario({"server_error": {"9984.T": 500}})

    with pytest.raises(YFPricesMissingError, match="Internal Server Error"):
        history(session, "9984.T", period="1mo")


# --- plain HTTP ---------------------------------------------------------------------


def test_handshake_basic_cookie_then_crumb(server):
    with httpx.Client(base_url=server.url) as client:
        refused = client.get("/v1/test/getcrumb")
        assert refused.status_code == 401

        cookie = client.get("/")
        assert cookie.status_code == 200
        assert "A3" in cookie.cookies
        crumb = client.get("/v1/test/getcrumb")
        assert crumb.status_code == 200
        assert len(crumb.text) == 11

        ok = client.get("/v8/finance/chart/7203.T", params={"crumb": crumb.text})
        assert ok.status_code == 200
        without = client.get("/v8/finance/chart/7203.T")
        assert without.status_code == 401
        assert without.json() == {
            "finance": {
                "result": None,
                "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
            }
        }
        forged = client.get(
            "/v8/finance/chart/7203.T", params={"crumb": crumb.text[:-1] + "x"}
        )
        assert forged.status_code == 401


def test_handshake_consent_form_then_crumb(server):
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/consent").text
        token = form.split("name='csrfToken' value='")[1].split("'")[0]
        session_id = form.split("name='sessionId' value='")[1].split("'")[0]

        bad = client.post(
            "/v2/collectConsent",
            params={"sessionId": session_id},
            data={"csrfToken": "forged", "sessionId": session_id},
        )
        assert bad.status_code == 400
        good = client.post(
            "/v2/collectConsent",
            params={"sessionId": session_id},
            data={"csrfToken": token, "sessionId": session_id},
        )
        assert "A3" in good.cookies
        assert client.get("/copyConsent").status_code == 200
        assert len(client.get("/v1/test/getcrumb").text) == 11


def test_unknown_symbol_gets_yahoos_404(server, crumb):
    response = chart(server, "9999999.T", crumb, range="1mo")

    assert response.status_code == 404
    assert response.json() == {
        "chart": {
            "result": None,
            "error": {
                "code": "Not Found",
                "description": "No data found, symbol may be delisted",
            },
        }
    }


def test_chart_meta_and_daily_timestamps_follow_yahoo(server, crumb):
    body = chart(server, "7203.T", crumb, range="5d").json()["chart"]["result"][0]

    meta = body["meta"]
    assert meta["exchangeTimezoneName"] == "Asia/Tokyo"
    assert (meta["currency"], meta["instrumentType"]) == ("JPY", "EQUITY")
    assert (meta["gmtoffset"], meta["timezone"]) == (32400, "JST")
    assert meta["dataGranularity"] == "1d" and meta["range"] == "5d"
    assert "1y" in meta["validRanges"]
    stamps = [dt.datetime.fromtimestamp(t, dt.UTC) for t in body["timestamp"]]
    assert [s.time() for s in stamps] == [TOKYO_OPEN_UTC] * 5
    assert stamps[-1].date() == dt.date(2022, 9, 16)

    us = chart(server, "TM", crumb, period1="1451606400", period2="1452211200")
    us_meta = us.json()["chart"]["result"][0]["meta"]
    first = dt.datetime.fromtimestamp(us.json()["chart"]["result"][0]["timestamp"][0])
    assert us_meta["exchangeTimezoneName"] == "America/New_York"
    assert first.astimezone(dt.UTC).time() == dt.time(14, 30)  # 09:30 EST
    fx = chart(server, "JPYUSD=X", crumb, range="max").json()["chart"]["result"][0]
    assert (fx["meta"]["currency"], fx["meta"]["instrumentType"]) == ("USD", "CURRENCY")


def test_longer_bars_are_labelled_on_the_period_start(server, crumb):
    params = {"period1": "1641000000", "period2": "1656633600"}  # 2022-01-01..07-01
    days = toyota_rows("2022-01-01", "2022-07-01")

    for interval, expected_labels in (
        ("1mo", [f"2022-{m:02d}-01" for m in range(1, 7)]),
        ("3mo", ["2022-01-01", "2022-04-01"]),
        ("5d", [r["Date"] for r in days[::5]]),
    ):
        body = chart(server, "7203.T", crumb, interval=interval, **params).json()
        result = body["chart"]["result"][0]
        labels = [
            dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(hours=9)))
            for t in result["timestamp"]
        ]
        assert [d.date().isoformat() for d in labels] == expected_labels, interval
        assert {d.time() for d in labels} == {dt.time(9, 0)}
        volumes = result["indicators"]["quote"][0]["volume"]
        assert sum(volumes) == sum(int(r["Volume"]) for r in days), interval

    ytd = chart(server, "7203.T", crumb, range="ytd").json()["chart"]["result"][0]
    first = dt.datetime.fromtimestamp(ytd["timestamp"][0], dt.UTC).date()
    assert first == dt.date(2022, 1, 4)


def test_repeated_bar_and_nan_row_are_sent_as_yahoo_sends_them(server, crumb):
    server.set_scenario(
        {
            "repeat_bar": {"7203.T": ["2022-09-14"]},
            "nan_row": {"7203.T": [{"date": "2022-09-15", "volume": 4321}]},
        }
    )

    body = chart(server, "7203.T", crumb, range="5d").json()["chart"]["result"][0]

    stamps = body["timestamp"]
    assert len(stamps) == 6 and stamps[2] == stamps[3]
    quote = body["indicators"]["quote"][0]
    assert quote["close"][4] is None and quote["open"][4] is None
    assert quote["volume"][4] == 4321
    assert body["indicators"]["adjclose"][0]["adjclose"][4] is None


def test_null_volume_keeps_the_prices_of_the_day(server, crumb):
    server.set_scenario({"null_volume": {"7203.T": ["2022-09-15"]}})

    body = chart(server, "7203.T", crumb, range="5d").json()["chart"]["result"][0]

    quote = body["indicators"]["quote"][0]
    assert quote["volume"][3] is None and quote["volume"][2] is not None
    [recorded] = toyota_rows("2022-09-15", "2022-09-16")
    assert quote["close"][3] == float(recorded["Close"])


def test_clock_override_moves_ranges(server, crumb):
    server.set_scenario({"now": "2021-01-06T00:00:00Z"})

    body = chart(server, "7203.T", crumb, range="1d").json()["chart"]["result"][0]

    day = dt.datetime.fromtimestamp(body["timestamp"][0], dt.UTC).date()
    assert body["timestamp"] == [body["timestamp"][0]]
    assert day == dt.date(2021, 1, 6)


def test_gateway_error_answers_a_page(server, crumb):
    server.set_scenario({"server_error": {"9984.T": 502}})

    response = chart(server, "9984.T", crumb, range="1mo")

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")


def test_scenario_control_endpoint(server):
    base = f"{server.url}/__replay/scenario"

    put = httpx.put(
        base, json={"delay": {"7203.T": 0.1}, "now": "2022-01-04T00:00:00Z"}
    )
    assert put.status_code == 200
    assert put.json()["now"] == "2022-01-04T00:00:00Z"
    assert server.state.scenario.delays == {"7203.T": 0.1}

    bad = httpx.put(
        base, json={"split": {"7203.T": {"date": "2022-01-04", "ratio": 1}}}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "split.7203.T[0].ratio"
    unknown = httpx.put(base, json={"typo": 1})
    assert unknown.json()["error"]["field"] == "typo"
    assert (
        httpx.put(
            base, content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )

    assert httpx.delete(base).json()["scenario"] == {}
    assert httpx.get(base).json()["now"] == "2022-09-17T00:00:00Z"


def test_scenario_file_is_read(tmp_path):
    path = tmp_path / "scenario.json"
    path.write_text('{"rate_limit": {"requests": [[41, 120]]}}')

    scenario = Scenario.from_file(path)

    assert scenario.is_rate_limited("7203.T", 41)
    assert scenario.is_rate_limited("7203.T", 120)
    assert not scenario.is_rate_limited("7203.T", 121)
    with pytest.raises(ScenarioError):
        Scenario.from_dict({"rate_limit": {"requests": [[5, 2]]}})


# --- the session seam ---------------------------------------------------------------


def test_session_sends_yahoo_hosts_to_the_server_and_refuses_others(server):
    offline = make_session(server.url, timeout=5)

    for host in (
        "query1.finance.yahoo.com",
        "query2.finance.yahoo.com",
        "fc.yahoo.com",
    ):
        assert offline.get(f"https://{host}/").status_code == 200
    with pytest.raises(RefusedHostError):
        offline.get("https://example.com/")
    with pytest.raises(RefusedHostError):
        offline.get("https://yahoo.com.evil.example/v8/finance/chart/7203.T")
    assert server.state.stats()["by_route"]["/"] == 3


def test_session_keeps_the_server_cookie_as_a_yahoo_cookie_both_ways(server):
    first = make_session(server.url, timeout=5)
    first.get("https://fc.yahoo.com/")

    yahoo = [c for c in first.cookies.jar if c.domain == ".yahoo.com"]
    assert [c.name for c in yahoo] == ["A3"]
    # A later process restores only the Yahoo-domain cookie (yfinance's cookie
    # cache); the session must still send it to the server.
    later = make_session(server.url, timeout=5)
    later.cookies.jar.set_cookie(yahoo[0])
    crumb = later.get("https://query1.finance.yahoo.com/v1/test/getcrumb")
    assert crumb.status_code == 200 and len(crumb.text) == 11
    assert (
        make_session(server.url, timeout=5)
        .get("https://query1.finance.yahoo.com/v1/test/getcrumb")
        .status_code
        == 401
    )


def test_plain_session_is_a_supported_uncached_curl_session():
    online = make_session(None, timeout=5)

    assert isinstance(online, curl_requests.Session)
    assert getattr(online, "cache", None) is None
    YfData(session=online)  # yfinance accepts it (raises for caching sessions)


# --- data sources and the command ---------------------------------------------------


def test_sources_later_wins_and_csv_layouts_are_read(store):
    toyota = store.get("7203.T")
    assert str(toyota.dates[0]) == "1999-05-06"  # full history replaced the sample
    tm = store.get("tm")
    assert tm.adjclose[0] == 118.950439453125 and tm.close[0] == 123.04000091552734
    sampled = store.get("3919.T")
    assert np.isnan(sampled.close).sum() == 1 and np.isnan(sampled.volume).sum() == 1


def test_a_file_without_price_columns_is_refused(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("Date,Price\n2022-01-04,1\n")

    with pytest.raises(DataSourceError, match="missing columns"):
        load_store([path])


def test_csv_dates_with_a_time_zone_keep_their_local_date(tmp_path):
    path = tmp_path / "7203.T.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2022-09-16 00:00:00+09:00,2020.0,2040.0,2010.5,2035.5,1000\n"
    )

    series = load_store([path]).get("7203.T")

    assert str(series.dates[0]) == "2022-09-16"
    assert series.adjclose[0] == series.close[0] == 2035.5


@pytest.mark.parametrize(
    ("written", "local"),
    [
        ("2020-05-03", "2020-05-04"),  # summer: 00:00 BST on Monday is Sunday UTC
        ("2020-01-02", "2020-01-02"),  # winter: London is on UTC
    ],
)
def test_plain_dates_of_london_currency_bars_are_their_utc_dates(
    tmp_path, written, local
):
    path = tmp_path / "JPYUSD=X.csv"
    path.write_text(
        "Date,High,Low,Open,Close,Volume,Adj Close\n"
        f"{written},0.0094,0.0093,0.0093,0.0094,0.0,0.0094\n"
    )

    series = load_store([path]).get("JPYUSD=X")

    assert str(series.dates[0]) == local


def test_replay_serve_command_starts_a_server(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "kabuflow.cli",
        "replay",
        "serve",
        "--port",
        str(port),
        "--data",
        str(UNADJUSTED / "TM.csv"),
        "--now",
        "2020-06-01T00:00:00Z",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    try:
        health = _wait_for(f"http://127.0.0.1:{port}/__replay/health")
        assert health == {"status": "ok", "symbols": 1, "now": "2020-06-01T00:00:00Z"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(url: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url).json()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_recorded_universe_is_found_where_the_variable_says(tmp_path):
    from kabuflow.replay.server import UNIVERSE_PLACES, recorded_universe

    chosen = tmp_path / "universe.parquet"

    assert recorded_universe({"KABUFLOW_UNIVERSE_PARQUET": str(chosen)}) == chosen
    found = recorded_universe({})
    assert found.name == "tse_daily_2020-09_2022-09.parquet"
    assert found.parent in UNIVERSE_PLACES
