"""kabuflow's own exceptions: every foreign error is translated into one of these.

The split that matters to callers is retryable versus permanent: Airflow retries a
`RetryableError` with backoff and fails a `PermanentError` at once.
"""

from __future__ import annotations


class KabuflowError(Exception):
    """Base of every error kabuflow raises on purpose."""


class RetryableError(KabuflowError):
    """A failure that may go away if the same work is tried again later."""


class PermanentError(KabuflowError):
    """A failure that will repeat on every attempt: retrying only wastes time."""


class InvalidRequestError(PermanentError):
    """A request that kabuflow refuses before doing any work.

    `field` names the offending input, so an API can point at it.
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class StackError(KabuflowError):
    """The local Airflow stack could not be started, checked or stopped as asked."""


class AirflowApiError(KabuflowError):
    """The Airflow REST API failed a call; `status_code` is None when no answer came.

    `detail` carries Airflow's own explanation (its `detail` field) when it sent one.
    """

    def __init__(self, message: str, status_code: int | None = None, detail=None):
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class AirflowUnavailableError(AirflowApiError, RetryableError):
    """Airflow could not be reached or answered 5xx or 429: try again later."""


class AirflowAuthError(AirflowApiError, PermanentError):
    """Airflow refused the service user's credentials or its token (401, 403)."""


class AirflowNotFoundError(AirflowApiError, PermanentError):
    """The DAG, run or pool does not exist in Airflow (404)."""


class AirflowConflictError(AirflowApiError, PermanentError):
    """The object exists already, e.g. a DAG run with the same run id (409)."""


class AirflowRejectedError(AirflowApiError, PermanentError):
    """Airflow refused the request as invalid (400, 422, other 4xx): see `detail`."""


class AirflowProtocolError(AirflowApiError, PermanentError):
    """The exchange went wrong: bad URL, redirect, or an answer that is not JSON."""


class BatchNotFound(KabuflowError):
    """No batch record has the id asked for."""

    def __init__(self, batch_id: int):
        super().__init__(f"no batch with id {batch_id}")
        self.batch_id = batch_id


class BatchDetailNotFound(KabuflowError):
    """The batch has no detail row for this symbol (it is not one of its stocks)."""

    def __init__(self, batch_id: int, stock_code: str):
        super().__init__(f"batch {batch_id} holds no stock {stock_code}")
        self.batch_id = batch_id
        self.stock_code = stock_code


class NoCalendarError(PermanentError):
    """kabuflow knows no trading calendar for the symbol."""


class CalendarRangeError(InvalidRequestError):
    """A date lies outside the range the trading calendars are built for."""


class SourceError(KabuflowError):
    """Fetching one symbol from Yahoo failed; `reason` is a short stable code.

    `symbol` names the symbol being fetched. The foreign exception that caused it
    is chained as `__cause__`.
    """

    reason = "source_error"

    def __init__(self, message: str, symbol: str | None = None):
        super().__init__(message)
        self.symbol = symbol


class RateLimitedError(SourceError, RetryableError):
    """Yahoo answered 429 Too Many Requests."""

    reason = "rate_limited"


class NetworkError(SourceError, RetryableError):
    """The request did not complete: DNS, connection, TLS or a cut transfer."""

    reason = "network_error"


class FetchTimeoutError(SourceError, RetryableError):
    """Yahoo did not answer within the timeout."""

    reason = "timeout"


class UpstreamServerError(SourceError, RetryableError):
    """Yahoo answered with a server error (5xx), an error page or a refusal to retry."""

    reason = "upstream_server_error"


class EmptyResultError(SourceError, RetryableError):
    """Yahoo sent no rows for a window that holds trading sessions.

    Retryable: Yahoo disguises throttling as "no data".
    """

    reason = "empty_result"


class TimezoneLookupError(SourceError, RetryableError):
    """yfinance's time-zone lookup for the symbol failed, so prices were not fetched.

    Retryable: an unknown symbol answers 404 and becomes `UnknownSymbolError`
    instead; a lookup failing otherwise is Yahoo's hiccup, not the symbol's fault.
    """

    reason = "timezone_lookup_failed"


class UnknownSymbolError(SourceError, PermanentError):
    """Yahoo does not know the symbol (404 "No data found, symbol may be delisted")."""

    reason = "unknown_symbol"


class RangeRefusedError(SourceError, PermanentError):
    """Yahoo refused the window for this interval (400, 422, or an invalid period)."""

    reason = "range_refused"


class UpstreamDataError(SourceError, PermanentError):
    """Yahoo's answer arrived but yfinance could not make prices out of it."""

    reason = "upstream_data_error"


class SourceConfigurationError(SourceError, PermanentError):
    """The source itself is unusable: bad base URL, closed session, changed yfinance."""

    reason = "source_configuration"


class UnexpectedSourceError(SourceError, PermanentError):
    """An exception nobody anticipated came out of yfinance; see `__cause__`."""

    reason = "unexpected_error"


class PriceDataError(PermanentError):
    """A price frame cannot be made into bars: its shape is not what yfinance returns.

    `symbol` names the symbol whose frame it was.
    """

    def __init__(self, message: str, symbol: str | None = None):
        super().__init__(f"{symbol}: {message}" if symbol else message)
        self.symbol = symbol


class MissingColumnError(PriceDataError):
    """An expected column is absent (Y4: `Adj Close` vanished); `columns` lists them."""

    def __init__(self, symbol: str | None, columns: list[str]):
        super().__init__(f"missing column(s) {', '.join(columns)}", symbol)
        self.columns = columns


class PriceStoreUnavailableError(RetryableError):
    """The price store could not finish: database unreachable, deadlock, or conflict.

    Nothing was written: the store's transaction was rolled back.
    """


class PriceStoreRejectedError(PermanentError):
    """The database refused the rows (a value its constraints do not allow)."""
