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
