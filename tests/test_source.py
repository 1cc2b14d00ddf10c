"""The Yahoo source: complete error mapping, no-data-expected windows, and fetches
through the replay server (cases Y1, Y2, Y3, Y7, Y10), never leaving 127.0.0.1.
"""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import json
import os
import socket
import threading
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
import yfinance
import yfinance.exceptions as yf
from curl_cffi.requests import Response
from curl_cffi.requests import exceptions as curl
from pandas import errors as pd_errors
from yfinance import cache as yf_cache

from kabuflow import calendars, yfinance_state
from kabuflow.errors import (
    EmptyResultError,
    FetchTimeoutError,
    InvalidRequestError,
    KabuflowError,
    NetworkError,
    PermanentError,
    RangeRefusedError,
    RateLimitedError,
    RetryableError,
    SourceConfigurationError,
    SourceError,
    TimezoneLookupError,
    UnexpectedSourceError,
    UnknownSymbolError,
    UpstreamDataError,
    UpstreamServerError,
)
from kabuflow.intervals import FetchWindow
from kabuflow.replay.server import SAMPLE_DIR, SAMPLE_SOURCES, ReplayServer
from kabuflow.replay.sources import load_store
from kabuflow.source import FRAME_COLUMNS, YahooSource
from kabuflow.source_errors import Exchange, translate
from kabuflow.yahoo_session import RefusedHostError

CHART = "http://127.0.0.1:1/v8/finance/chart/7203.T"
PRICES = CHART + "?period1=1&period2=2&interval=1d&includePrePost=False&events=div"
TZ_LOOKUP = CHART + "?range=1d&interval=1d"
QUOTE = "http://127.0.0.1:1/v10/finance/quoteSummary/7203.T?modules=quoteType"


def answered(status: int, url: str = CHART) -> Response:
    response = Response()
    response.status_code = status
    response.url = url
    return response


# One representative instance per upstream class, and the kind it must become when
# no HTTP error status was seen. A class missing here fails the census test below.
YFINANCE_CASES = {
    "YFException": (yf.YFException("odd"), UnexpectedSourceError),
    "YFDataException": (
        yf.YFDataException("*** YAHOO! FINANCE IS CURRENTLY DOWN! ***"),
        UpstreamServerError,
    ),
    "YFNotImplementedError": (yf.YFNotImplementedError("x"), UnexpectedSourceError),
    "YFTickerMissingError": (
        yf.YFTickerMissingError("7203.T", "gone"),
        UnknownSymbolError,
    ),
    "YFTzMissingError": (yf.YFTzMissingError("7203.T"), TimezoneLookupError),
    "YFPricesMissingError": (
        yf.YFPricesMissingError("7203.T", "(1d 2024-06-03 -> 2024-06-07)"),
        EmptyResultError,
    ),
    "YFEarningsDateMissing": (yf.YFEarningsDateMissing("7203.T"), UnknownSymbolError),
    "YFInvalidPeriodError": (
        yf.YFInvalidPeriodError("7203.T", "7y", "1d, 5d"),
        RangeRefusedError,
    ),
    "YFRateLimitError": (yf.YFRateLimitError(), RateLimitedError),
}

CURL_CASES = {
    "RequestException": (curl.RequestException("recv", 56), NetworkError),
    "CurlError": (curl.CurlError("curl failed", 2), NetworkError),
    "CookieConflict": (curl.CookieConflict("two A3"), SourceConfigurationError),
    "SessionClosed": (curl.SessionClosed("closed"), SourceConfigurationError),
    "ImpersonateError": (curl.ImpersonateError("no"), SourceConfigurationError),
    "InvalidJSONError": (curl.InvalidJSONError("bad"), UpstreamServerError),
    "JSONDecodeError": (curl.JSONDecodeError("bad", 0), UpstreamServerError),
    "HTTPError": (curl.HTTPError("HTTP/2 stream 1 reset", 92), NetworkError),
    "IncompleteRead": (curl.IncompleteRead("short body", 18), NetworkError),
    "ConnectionError": (curl.ConnectionError("refused", 7), NetworkError),
    "DNSError": (curl.DNSError("no host", 6), NetworkError),
    "ProxyError": (curl.ProxyError("proxy", 5), NetworkError),
    "SSLError": (curl.SSLError("tls", 35), NetworkError),
    "CertificateVerifyError": (curl.CertificateVerifyError("cert", 60), NetworkError),
    "Timeout": (curl.Timeout("timed out", 28), FetchTimeoutError),
    "ConnectTimeout": (curl.ConnectTimeout("connect", 28), FetchTimeoutError),
    "ReadTimeout": (curl.ReadTimeout("read", 28), FetchTimeoutError),
    "URLRequired": (curl.URLRequired("no url"), SourceConfigurationError),
    "TooManyRedirects": (curl.TooManyRedirects("loop", 47), UpstreamServerError),
    "MissingSchema": (curl.MissingSchema("no scheme"), SourceConfigurationError),
    "InvalidSchema": (curl.InvalidSchema("ftp", 1), SourceConfigurationError),
    "InvalidURL": (curl.InvalidURL("bad url", 3), SourceConfigurationError),
    "InvalidHeader": (curl.InvalidHeader("bad header"), SourceConfigurationError),
    "InvalidProxyURL": (curl.InvalidProxyURL("bad proxy"), SourceConfigurationError),
    "ChunkedEncodingError": (curl.ChunkedEncodingError("chunk"), NetworkError),
    "ContentDecodingError": (curl.ContentDecodingError("gzip"), NetworkError),
    "StreamConsumedError": (
        curl.StreamConsumedError("again"),
        SourceConfigurationError,
    ),
    "RetryError": (curl.RetryError("retries"), NetworkError),
    "UnrewindableBodyError": (
        curl.UnrewindableBodyError("rewind", 65),
        SourceConfigurationError,
    ),
    "InterfaceError": (curl.InterfaceError("eth9", 45), SourceConfigurationError),
}

OTHER_CASES = [
    (json.JSONDecodeError("Expecting value", "<html>", 0), UpstreamServerError),
    (KeyError("meta"), UpstreamDataError),
    (IndexError("list index out of range"), UpstreamDataError),
    (TypeError("'NoneType' object is not subscriptable"), UpstreamDataError),
    (ValueError("cannot convert"), UpstreamDataError),
    (TimeoutError("timed out"), FetchTimeoutError),
    (ConnectionError("reset"), NetworkError),
    (RuntimeError("surprise"), UnexpectedSourceError),
    (ZeroDivisionError("surprise"), UnexpectedSourceError),
]


def exception_classes(module) -> set[str]:
    return {
        name
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and not issubclass(cls, Warning)
    }


def assert_translated(error: Exception, expected: type, exchanges=()) -> SourceError:
    ours = translate(error, "7203.T", exchanges)

    assert type(ours) is expected, f"{type(error).__name__} became {type(ours)}"
    assert ours.symbol == "7203.T"
    assert isinstance(ours, RetryableError) != isinstance(ours, PermanentError)
    return ours


def test_census_of_yfinance_exception_classes():
    # Fails when yfinance adds, renames or removes an exception class.
    assert exception_classes(yf) == set(YFINANCE_CASES)


def test_census_of_curl_cffi_request_exception_classes():
    assert exception_classes(curl) == set(CURL_CASES)


@pytest.mark.parametrize("name", sorted(YFINANCE_CASES))
def test_each_yfinance_exception_maps_to_ours(name):
    error, expected = YFINANCE_CASES[name]

    assert_translated(error, expected)


@pytest.mark.parametrize("name", sorted(CURL_CASES))
def test_each_curl_cffi_exception_maps_to_ours(name):
    error, expected = CURL_CASES[name]

    assert_translated(error, expected)


@pytest.mark.parametrize(("error", "expected"), OTHER_CASES)
def test_json_parse_builtin_and_unforeseen_exceptions_map_to_ours(error, expected):
    assert_translated(error, expected)


@pytest.mark.parametrize(
    ("status", "url", "expected"),
    [
        (503, PRICES, UpstreamServerError),
        (500, QUOTE, UpstreamServerError),
        (404, PRICES, UnknownSymbolError),
        (404, QUOTE, UpstreamServerError),
        (422, PRICES, RangeRefusedError),
        (400, PRICES, RangeRefusedError),
        (403, PRICES, UpstreamServerError),
        (429, QUOTE, RateLimitedError),
    ],
)
def test_http_error_maps_by_status_and_endpoint(status, url, expected):
    error = curl.HTTPError(f"HTTP Error {status}", 0, answered(status, url))

    assert_translated(error, expected)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("No data found, symbol may be delisted", UnknownSymbolError),
        (
            "1m data not available for startTime=1 and endTime=2. Only 8 days "
            "worth of 1m granularity data are allowed to be fetched per request.",
            RangeRefusedError,
        ),
        ("Data doesn't exist for startDate = 1, endDate = 2", RangeRefusedError),
        ("Something else entirely", UpstreamDataError),
    ],
)
def test_yahoo_reason_decides_when_no_error_status_was_seen(reason, expected):
    error = yf.YFPricesMissingError("7203.T", "", yahoo_reason=reason)

    ours = assert_translated(error, expected, [Exchange(PRICES, 200)])
    assert reason in str(ours)


@pytest.mark.parametrize(
    ("exchanges", "error", "expected"),
    [
        # The answer's status wins over the text yfinance made of it.
        (
            [Exchange(TZ_LOOKUP, 200), Exchange(PRICES, 404), Exchange(PRICES, 404)],
            yf.YFPricesMissingError("7203.T", "", yahoo_reason="No data found"),
            UnknownSymbolError,
        ),
        (
            [Exchange(TZ_LOOKUP, 200), Exchange(PRICES, 422)],
            yf.YFPricesMissingError("7203.T", "", yahoo_reason="not available"),
            RangeRefusedError,
        ),
        (
            [Exchange(TZ_LOOKUP, 200), Exchange(PRICES, 500)],
            json.JSONDecodeError("Expecting value", "<html>", 0),
            UpstreamServerError,
        ),
        (
            [Exchange(TZ_LOOKUP, 200), Exchange(PRICES, 502)],
            yf.YFPricesMissingError("7203.T", "", yahoo_reason="No data found"),
            UpstreamServerError,
        ),
        (
            [Exchange(PRICES, 429)],
            yf.YFPricesMissingError("7203.T", ""),
            RateLimitedError,
        ),
        # Case Y3: the time-zone lookup fails, so prices are never asked for.
        (
            [Exchange(TZ_LOOKUP, 500), Exchange(TZ_LOOKUP, 500)],
            yf.YFTzMissingError("7203.T"),
            TimezoneLookupError,
        ),
        # ... even when yfinance's fallback then fails on another endpoint.
        (
            [Exchange(TZ_LOOKUP, 503), Exchange(QUOTE, 404)],
            curl.HTTPError("HTTP Error 404", 0, answered(404, QUOTE)),
            TimezoneLookupError,
        ),
        # An unknown symbol already fails its time-zone lookup with 404.
        (
            [Exchange(TZ_LOOKUP, 404), Exchange(TZ_LOOKUP, 404)],
            yf.YFTzMissingError("7203.T"),
            UnknownSymbolError,
        ),
        # A failure yfinance's second attempt overcame does not decide.
        (
            [Exchange(PRICES, 500), Exchange(PRICES, 200)],
            KeyError("meta"),
            UpstreamDataError,
        ),
    ],
)
def test_the_last_chart_answer_decides(exchanges, error, expected):
    assert_translated(error, expected, exchanges)


def test_our_own_errors_pass_through_or_name_the_setup():
    ours = EmptyResultError("7203.T: nothing", "7203.T")
    refused = RefusedHostError("offline session refuses example.com")

    assert translate(ours, "7203.T") is ours
    assert_translated(refused, SourceConfigurationError)
    assert isinstance(translate(RuntimeError("x"), "7203.T"), KabuflowError)


def test_exchange_tells_price_requests_from_the_tz_lookup():
    assert Exchange(TZ_LOOKUP, 200).is_tz_lookup
    assert not Exchange(PRICES, 200).is_tz_lookup
    assert not Exchange(QUOTE, 200).is_chart


# --- through the replay server ----------------------------------------------------

# After the Tokyo close of the replay data's last day, before the server's clock.
NOW = dt.datetime(2022, 9, 16, 9, 0, tzinfo=dt.UTC)
WEEK = FetchWindow("1d", start=dt.date(2022, 9, 5), end=dt.date(2022, 9, 10))
WEEKEND = FetchWindow("1d", start=dt.date(2022, 9, 10), end=dt.date(2022, 9, 12))
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Fail any Python socket that tries to reach beyond this machine."""
    connect = socket.socket.connect

    def local_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            assert address[0] in LOCAL_HOSTS, f"a test tried to reach {address}"
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_connect)


@pytest.fixture(scope="module")
def store():
    return load_store(SAMPLE_SOURCES)


@pytest.fixture(scope="module")
def replay(store):
    server = ReplayServer(store=store)
    with server.running():
        yield server


@pytest.fixture(autouse=True)
def clean_scenario(request):
    if "replay" in request.fixturenames:
        request.getfixturevalue("replay").set_scenario({})


@pytest.fixture
def exchanges():
    """Every HTTP exchange the test's sources make; all must stay on 127.0.0.1."""
    seen: list[Exchange] = []
    yield seen
    hosts = {urlsplit(exchange.url).hostname for exchange in seen}
    assert hosts <= LOCAL_HOSTS, f"requests left this machine: {hosts}"


@pytest.fixture
def source(replay, exchanges):
    with YahooSource(base_url=replay.url, timeout=5, observer=exchanges.append) as src:
        yield src


def closes(path: Path, column: str = "Close") -> dict[dt.date, float]:
    with path.open(newline="") as handle:
        return {
            dt.date.fromisoformat(row["Date"][:10]): float(row[column])
            for row in csv.DictReader(handle)
        }


def parquet_closes(symbol: str) -> dict[dt.date, float]:
    table = pq.read_table(
        SAMPLE_DIR / "tse_daily_sample.parquet", filters=[("symbol", "==", symbol)]
    )
    frame = table.to_pandas()
    return {
        dt.date.fromisoformat(str(d)): c
        for d, c in zip(frame.date, frame.close, strict=True)
    }


def frame_closes(result, column: str = "Close") -> dict[dt.date, float]:
    return {stamp.date(): float(value) for stamp, value in result.frame[column].items()}


def test_yfinance_process_state_is_ours(source):
    assert yfinance.config.network.retries == 0
    assert yfinance.config.debug.hide_exceptions is False
    assert isinstance(yf_cache.get_tz_cache(), yf_cache._TzCacheDummy)
    assert isinstance(yf_cache.get_cookie_cache(), yfinance_state.MemoryCookieCache)


def test_fetches_write_no_yfinance_cache_files(source, tmp_path):
    # Where yfinance would put its SQLite caches: shared by every process on a host.
    default = yf_cache._TzDBManager.get_location()
    yfinance.set_tz_cache_location(str(tmp_path))
    try:
        source.fetch("7203.T", WEEK, now=NOW)
    finally:
        yfinance.set_tz_cache_location(default)

    assert list(tmp_path.iterdir()) == []


def test_a_forked_process_configures_yfinance_again(source, monkeypatch):
    yfinance.config.network.retries = 3
    yfinance_state.configure_yfinance()
    assert yfinance.config.network.retries == 3  # same process: configured once

    monkeypatch.setattr(yfinance_state.os, "getpid", lambda: -1)
    yfinance_state.configure_yfinance()

    assert yfinance.config.network.retries == 0


def test_a_child_forked_while_a_fetch_holds_the_lock_can_fetch():
    held, release = threading.Event(), threading.Event()

    def hold_lock():
        with yfinance_state.YFINANCE_LOCK:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:
        acquired = yfinance_state.YFINANCE_LOCK.acquire(timeout=5)
        os._exit(0 if acquired else 1)
    release.set()
    holder.join()
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0


def test_a_week_of_daily_bars_is_the_recorded_data(source, exchanges):
    result = source.fetch("7203.T", WEEK, now=NOW)

    expected = closes(SAMPLE_DIR / "tse_full_history" / "7203.T.csv")
    got = frame_closes(result)
    assert list(got) == calendars.sessions("7203.T", WEEK.start, WEEK.end)
    assert got == {day: expected[day] for day in got}
    assert result.exchange_tz == "Asia/Tokyo"
    assert result.fetched_at == NOW
    assert not result.no_data_expected
    assert result.http_requests == len(exchanges) > 0


def test_raw_and_adjusted_closes_stay_in_their_own_columns(source):
    window = FetchWindow("1d", start=dt.date(2016, 6, 1), end=dt.date(2016, 6, 4))

    result = source.fetch("TM", window, now=NOW)

    path = SAMPLE_DIR / "tse_unadjusted_2016_2020" / "TM.csv"
    raw, adjusted = frame_closes(result), frame_closes(result, "Adj Close")
    assert raw == {day: closes(path)[day] for day in raw}
    assert adjusted == {day: closes(path, "Adj Close")[day] for day in adjusted}
    assert all(adjusted[day] < raw[day] for day in raw)
    assert {"Dividends", "Stock Splits"} <= set(result.frame.columns)


@pytest.mark.parametrize("symbol", ["7203.T", "9999999.T", "AAPL"])
def test_y2_weekend_window_expects_no_data_without_asking_yahoo(
    replay, source, exchanges, symbol
):
    replay.state.reset_stats()

    result = source.fetch(symbol, WEEKEND, now=NOW)

    assert result.no_data_expected
    assert result.frame.empty
    assert result.http_requests == 0
    assert list(result.frame.columns) == list(FRAME_COLUMNS)
    assert exchanges == []
    assert replay.state.stats()["requests"] == 0


def test_golden_week_holidays_expect_no_data_but_fx_trades(source):
    holidays = FetchWindow("1d", start=dt.date(2022, 5, 3), end=dt.date(2022, 5, 6))

    assert source.fetch("7203.T", holidays, now=NOW).no_data_expected
    assert calendars.sessions("JPYUSD=X", holidays.start, holidays.end)


def test_y2_each_symbol_gets_its_own_reason_on_a_weekday_window(source):
    found = source.fetch("7203.T", WEEK, now=NOW)
    with pytest.raises(UnknownSymbolError) as unknown:
        source.fetch("9999999.T", WEEK, now=NOW)

    assert len(found.frame) == 5
    assert isinstance(unknown.value, PermanentError)
    assert unknown.value.symbol == "9999999.T"
    assert isinstance(unknown.value.__cause__, Exception)


@pytest.mark.parametrize(
    ("window", "field"),
    [
        (FetchWindow("1m", period="1mo"), "period"),
        (FetchWindow("1h", period="max"), "period"),
        (FetchWindow("15m", period="6mo"), "period"),
    ],
)
def test_y2_y7_refused_range_is_rejected_before_any_request(
    source, exchanges, window, field
):
    with pytest.raises(InvalidRequestError) as refused:
        source.fetch("7203.T", window, now=NOW)

    assert refused.value.field == field
    assert exchanges == []


@pytest.mark.parametrize(
    ("symbol", "now"), [("7203", NOW), ("7203.T", NOW.replace(tzinfo=None))]
)
def test_unnormalized_symbol_or_naive_now_is_refused(source, exchanges, symbol, now):
    with pytest.raises(InvalidRequestError):
        source.fetch(symbol, WEEK, now=now)

    assert exchanges == []


def test_a_window_with_sessions_but_no_rows_is_an_error_not_success(source):
    before_listing = FetchWindow(
        "1d", start=dt.date(2019, 6, 3), end=dt.date(2019, 6, 8)
    )

    with pytest.raises(EmptyResultError) as empty:
        source.fetch("6758.T", before_listing, now=NOW)

    assert isinstance(empty.value, RetryableError)


@pytest.mark.parametrize("info_fallbacks_left", [True, False])
def test_y3_failing_timezone_lookup_fails_that_symbol_alone(
    replay, source, monkeypatch, info_fallbacks_left
):
    # yfinance asks `.info` for the time zone after its first two failed lookups
    # in a process only; both paths must end in the same reason.
    monkeypatch.setattr(
        yfinance.base, "_tz_info_fetch_ctr", 0 if info_fallbacks_left else 2
    )
    replay.set_scenario({"tz_failure": ["6758.T"]})

    with pytest.raises(TimezoneLookupError) as failed:
        source.fetch("6758.T", WEEK, now=NOW)
    stored = source.fetch("7203.T", WEEK, now=NOW)
    replay.set_scenario({})
    retried = source.fetch("6758.T", WEEK, now=NOW)

    assert isinstance(failed.value, RetryableError)
    assert failed.value.reason == "timezone_lookup_failed"
    assert len(stored.frame) == 5
    expected = parquet_closes("6758.T")
    assert frame_closes(retried) == {
        day: expected[day] for day in frame_closes(retried)
    }


def test_y1_rate_limit_is_retryable_and_passes_once_lifted(replay, source):
    replay.set_scenario({"rate_limit": {"symbols": ["7203.T"]}})

    with pytest.raises(RateLimitedError) as limited:
        source.fetch("7203.T", WEEK, now=NOW)
    replay.set_scenario({})
    after = source.fetch("7203.T", WEEK, now=NOW)

    assert isinstance(limited.value, RetryableError)
    assert isinstance(limited.value.__cause__, yf.YFRateLimitError)
    assert len(after.frame) == 5


def test_y1_throttled_request_numbers_answer_429(replay, source):
    replay.set_scenario({"rate_limit": {"requests": [[1, 1000]]}})

    with pytest.raises(RateLimitedError):
        source.fetch("6758.T", FetchWindow("1d", period="1mo"), now=NOW)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(replay, source, status):
    replay.set_scenario({"server_error": {"7203.T": status}})

    with pytest.raises(RetryableError) as failed:
        source.fetch("7203.T", WEEK, now=NOW)

    assert isinstance(failed.value, UpstreamServerError | TimezoneLookupError)
    assert f"HTTP {status}" in str(failed.value)


def test_intraday_the_replay_cannot_serve_is_refused_permanently(source):
    with pytest.raises(RangeRefusedError):
        source.fetch("7203.T", FetchWindow("5m", period="1d"), now=NOW)


def test_slow_answer_times_out(replay, exchanges):
    replay.set_scenario({"delay": {"7203.T": 1.5}})
    with YahooSource(replay.url, timeout=0.5, observer=exchanges.append) as slow:
        with pytest.raises(FetchTimeoutError) as late:
            slow.fetch("7203.T", WEEK, now=NOW)

    assert isinstance(late.value.__cause__, curl.Timeout)


def test_nothing_listening_is_a_network_error(exchanges):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with YahooSource(f"http://127.0.0.1:{closed_port}", timeout=2) as nowhere:
        with pytest.raises(NetworkError) as failed:
            nowhere.fetch("7203.T", WEEK, now=NOW)

    assert isinstance(failed.value.__cause__, curl.ConnectionError)


def test_y10_a_trading_day_missing_upstream_is_reported(replay, source):
    replay.set_scenario({"remove_days": {"7203.T": ["2022-05-02"]}})
    golden_week = FetchWindow(
        "1d", start=dt.date(2022, 4, 25), end=dt.date(2022, 5, 14)
    )

    result = source.fetch("7203.T", golden_week, now=NOW)

    dates = list(frame_closes(result))
    missing = calendars.missing_sessions(
        "7203.T", dates, golden_week.start, golden_week.end
    )
    assert missing == [dt.date(2022, 5, 2)]


def test_a_repeated_past_request_sees_new_data(replay, source):
    before = source.fetch("7203.T", WEEK, now=NOW)
    replay.set_scenario({"split": {"7203.T": [{"date": "2022-09-07", "ratio": 5}]}})

    after = source.fetch("7203.T", WEEK, now=NOW)

    assert after.frame.loc[after.frame.index[0], "Close"] == pytest.approx(
        before.frame.loc[before.frame.index[0], "Close"] / 5
    )
    assert after.frame["Stock Splits"].max() == 5


def test_without_clearing_yfinance_would_serve_the_old_answer(
    replay, source, monkeypatch
):
    # Why the source clears yfinance's response cache: this canary fails the day
    # yfinance stops caching past windows, and the clearing can go.
    monkeypatch.setattr("kabuflow.source.clear_response_cache", lambda: None)
    before = source.fetch("7203.T", WEEK, now=NOW)
    replay.set_scenario({"split": {"7203.T": [{"date": "2022-09-07", "ratio": 5}]}})

    after = source.fetch("7203.T", WEEK, now=NOW)

    assert after.frame["Close"].tolist() == before.frame["Close"].tolist()


def test_fetches_of_different_symbols_and_windows_do_not_mix(source):
    toyota = source.fetch("7203.T", WEEK, now=NOW)
    sony = source.fetch(
        "6758.T",
        FetchWindow("1d", start=dt.date(2022, 9, 1), end=dt.date(2022, 9, 8)),
        now=NOW,
    )
    toyota_again = source.fetch("7203.T", WEEK, now=NOW)

    sony_expected = parquet_closes("6758.T")
    assert frame_closes(sony) == {day: sony_expected[day] for day in frame_closes(sony)}
    assert min(frame_closes(sony)) == dt.date(2022, 9, 1)
    assert frame_closes(toyota_again) == frame_closes(toyota)
    assert toyota.symbol == "7203.T" and sony.symbol == "6758.T"


@pytest.fixture(scope="module")
def split_replay(store):
    # A second server over the same data that has seen a 5-for-1 split.
    server = ReplayServer(
        store=store,
        scenario={"split": {"7203.T": [{"date": "2022-09-07", "ratio": 5}]}},
    )
    with server.running():
        yield server


def test_two_sources_in_one_process_keep_their_own_servers(
    replay, split_replay, exchanges
):
    plain = YahooSource(replay.url, timeout=5, observer=exchanges.append)
    split = YahooSource(split_replay.url, timeout=5, observer=exchanges.append)
    with plain, split:
        first = plain.fetch("7203.T", WEEK, now=NOW)
        second = split.fetch("7203.T", WEEK, now=NOW)
        third = plain.fetch("7203.T", WEEK, now=NOW)

    assert second.frame["Stock Splits"].max() == 5
    assert first.frame["Stock Splits"].max() == third.frame["Stock Splits"].max() == 0


def test_threads_with_different_sources_never_get_each_others_data(
    replay, split_replay, exchanges
):
    results: dict[str, list[float]] = {"plain": [], "split": []}
    failures: list[BaseException] = []

    def run(name: str, url: str) -> None:
        try:
            with YahooSource(url, timeout=5, observer=exchanges.append) as src:
                for _ in range(4):
                    frame = src.fetch("7203.T", WEEK, now=NOW).frame
                    results[name].append(float(frame["Stock Splits"].max()))
        except BaseException as err:  # surfaced by the assertion below
            failures.append(err)

    threads = [
        threading.Thread(target=run, args=("plain", replay.url)),
        threading.Thread(target=run, args=("split", split_replay.url)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert results == {"plain": [0.0] * 4, "split": [5.0] * 4}


def test_a_fetch_raises_no_pandas_deprecation_from_yfinance(source, recwarn):
    source.fetch("7203.T", WEEK, now=NOW)

    from_yfinance = [w for w in recwarn if "yfinance" in w.filename]
    assert from_yfinance == []


def test_pandas_warnings_from_elsewhere_still_pass():
    with pytest.warns(pd_errors.Pandas4Warning):
        with yfinance_state.quiet_yfinance_warnings():
            warnings.warn("from kabuflow", pd_errors.Pandas4Warning, stacklevel=1)
