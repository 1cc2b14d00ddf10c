"""Translate whatever comes out of yfinance, curl_cffi or HTTP into kabuflow's errors.

yfinance hides HTTP status codes: a 404 for an unknown symbol, a 422 for a refused
range and a 500 all reach us as "no price data" or as a JSON error. So the source
records every HTTP exchange of a fetch (`Exchange`), and when the last answer of
Yahoo's chart endpoint is an HTTP error, its status decides the kind, whatever
yfinance raised afterwards:

| answer | our error |
|---|---|
| 429 | `RateLimitedError` (retryable) |
| 404, 410 | `UnknownSymbolError` (permanent) |
| 400, 422 | `RangeRefusedError` (permanent) |
| 5xx and any other 4xx | `UpstreamServerError` (retryable) |

except that a failing time-zone lookup (other than 404, 410, 429) is a retryable
`TimezoneLookupError`.

Without a failing answer the exception's class decides (see `_BY_CLASS` and
`_transport_error`). Anything unforeseen becomes `UnexpectedSourceError`: no foreign
exception ever leaves the source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from curl_cffi import CurlError
from curl_cffi.requests import exceptions as curl
from yfinance import exceptions as yf

from kabuflow.errors import (
    EmptyResultError,
    FetchTimeoutError,
    KabuflowError,
    NetworkError,
    RangeRefusedError,
    RateLimitedError,
    SourceConfigurationError,
    SourceError,
    TimezoneLookupError,
    UnexpectedSourceError,
    UnknownSymbolError,
    UpstreamDataError,
    UpstreamServerError,
)

CHART_PATH = "/v8/finance/chart/"

# The request's own setup was wrong: retrying the same request cannot help.
_SETUP_ERRORS = (
    curl.InvalidURL,
    curl.InvalidSchema,
    curl.MissingSchema,
    curl.InvalidHeader,
    curl.URLRequired,
    curl.SessionClosed,
    curl.ImpersonateError,
    curl.CookieConflict,
    curl.UnrewindableBodyError,
    curl.InterfaceError,
    curl.StreamConsumedError,
)

# Yahoo's own explanations, used only when its answer carried no HTTP error status.
_UNKNOWN_SYMBOL_WORDS = ("symbol may be delisted", "no data found")
_RANGE_REFUSED_WORDS = ("data not available", "within the last", "doesn't exist for")

# Checked in order: the first class the exception is an instance of wins.
_BY_CLASS: tuple[tuple[type[BaseException], type[SourceError]], ...] = (
    (yf.YFRateLimitError, RateLimitedError),
    (yf.YFTzMissingError, TimezoneLookupError),
    (yf.YFInvalidPeriodError, RangeRefusedError),
    (yf.YFTickerMissingError, UnknownSymbolError),
    # Raised for Yahoo's "Will be right back" page.
    (yf.YFDataException, UpstreamServerError),
    (yf.YFException, UnexpectedSourceError),
    (yf.YFNotImplementedError, UnexpectedSourceError),
    # A body that is not JSON is an error or maintenance page, not prices.
    (json.JSONDecodeError, UpstreamServerError),
    # yfinance parsing a JSON answer that lacks what it expects.
    (KeyError, UpstreamDataError),
    (IndexError, UpstreamDataError),
    (TypeError, UpstreamDataError),
    (ValueError, UpstreamDataError),
)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request of a fetch and the status Yahoo (or the replay) answered."""

    url: str
    status: int

    @property
    def is_chart(self) -> bool:
        """Whether this went to the chart endpoint (prices or time-zone lookup)."""
        return CHART_PATH in urlsplit(self.url).path

    @property
    def is_tz_lookup(self) -> bool:
        """Whether this was yfinance's time-zone lookup.

        yfinance 1.7's lookup asks the chart for `range=1d&interval=1d` without the
        `events` parameter that every price request of `history()` carries.
        """
        query = parse_qs(urlsplit(self.url).query)
        return self.is_chart and "events" not in query

    @property
    def failed(self) -> bool:
        """Whether the answer was an HTTP error."""
        return self.status >= 400


def translate(
    error: Exception, symbol: str, exchanges: Sequence[Exchange] = ()
) -> SourceError:
    """Return kabuflow's error for `error`, raised while fetching `symbol`.

    `exchanges` are the HTTP exchanges of the fetch, in order. The result is not
    chained yet: raise it `from error` (a `SourceError` comes back unchanged).
    """
    if isinstance(error, SourceError):
        return error
    if isinstance(error, KabuflowError):
        # Our own setup refused, e.g. the offline session asked for another host.
        return SourceConfigurationError(f"{symbol}: {_describe(error)}", symbol)
    failed = _failed_last_chart(exchanges)
    if isinstance(error, yf.YFRateLimitError) or (failed and failed.status == 429):
        said = f"{symbol}: Yahoo answered 429 Too Many Requests"
        return RateLimitedError(said, symbol)

    if failed is not None:
        return _by_answer(failed, error, symbol)
    by_transport = _transport_error(error, symbol)
    if by_transport is not None:
        return by_transport
    return _by_class(error, symbol)


def empty_result(symbol: str, detail: str) -> EmptyResultError:
    """Return the error for an empty answer to a window that holds sessions."""
    return EmptyResultError(
        f"{symbol}: Yahoo sent no rows for a window with trading sessions ({detail})",
        symbol,
    )


def _failed_last_chart(exchanges: Sequence[Exchange]) -> Exchange | None:
    # A failure that yfinance's own second attempt overcame does not count.
    charts = [answer for answer in exchanges if answer.is_chart]
    if charts and charts[-1].failed:
        return charts[-1]
    return None


def _by_answer(failed: Exchange, error: Exception, symbol: str) -> SourceError:
    status = failed.status
    said = f"{symbol}: Yahoo answered HTTP {status}: {_describe(error)}"
    if status in (404, 410):
        return UnknownSymbolError(said, symbol)
    if failed.is_tz_lookup:
        return TimezoneLookupError(
            f"{symbol}: the time-zone lookup failed with HTTP {status}", symbol
        )
    if status in (400, 422):
        return RangeRefusedError(said, symbol)
    return UpstreamServerError(said, symbol)


def _transport_error(error: Exception, symbol: str) -> SourceError | None:
    text = f"{symbol}: {_describe(error)}"
    # Timeout before ConnectionError: ConnectTimeout is both.
    if isinstance(error, curl.Timeout | TimeoutError):
        return FetchTimeoutError(text, symbol)
    if isinstance(error, _SETUP_ERRORS):
        return SourceConfigurationError(text, symbol)
    if isinstance(error, curl.HTTPError) and not isinstance(error, curl.IncompleteRead):
        return _http_error(error, symbol)
    if isinstance(error, curl.TooManyRedirects):
        return UpstreamServerError(text, symbol)
    if isinstance(error, curl.InvalidJSONError):
        return UpstreamServerError(text, symbol)
    if isinstance(error, CurlError | ConnectionError):
        return NetworkError(text, symbol)
    return None


def _http_error(error: curl.HTTPError, symbol: str) -> SourceError:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status is None:
        # HTTP/2 stream or content-encoding failures: the transfer broke.
        return NetworkError(f"{symbol}: {_describe(error)}", symbol)
    answer = Exchange(str(getattr(response, "url", "")), status)
    if answer.is_chart:
        return _by_answer(answer, error, symbol)
    # Another endpoint (yfinance's quote fallback): it says nothing about the symbol.
    said = f"{symbol}: Yahoo answered HTTP {status}: {_describe(error)}"
    if status == 429:
        return RateLimitedError(said, symbol)
    return UpstreamServerError(said, symbol)


def _by_class(error: Exception, symbol: str) -> SourceError:
    if isinstance(error, yf.YFPricesMissingError):
        return _prices_missing(error, symbol)
    for foreign, ours in _BY_CLASS:
        if isinstance(error, foreign):
            return ours(f"{symbol}: {_describe(error)}", symbol)
    return UnexpectedSourceError(f"{symbol}: {_describe(error)}", symbol)


def _prices_missing(error: yf.YFPricesMissingError, symbol: str) -> SourceError:
    # Reached only when no HTTP error status was seen: Yahoo answered 200.
    if error.yahoo_reason is None:
        return empty_result(symbol, _describe(error))
    reason = error.yahoo_reason.lower()
    said = f"{symbol}: Yahoo said: {error.yahoo_reason}"
    if any(words in reason for words in _UNKNOWN_SYMBOL_WORDS):
        return UnknownSymbolError(said, symbol)
    if any(words in reason for words in _RANGE_REFUSED_WORDS):
        return RangeRefusedError(said, symbol)
    return UpstreamDataError(said, symbol)


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
