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
