"""Turn every error into the API's one JSON error shape, in one place.

`{"success": false, "error": "<CODE>", "message": "..."}`, plus `"fields"` for a
validation error. Nothing the API answers is HTML, and no traceback leaves the server.
"""

from __future__ import annotations

import logging

import psycopg
from flask import Flask, current_app, jsonify, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from kabuflow.errors import AirflowApiError, BatchNotFound, InvalidRequestError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
    503: "SERVICE_UNAVAILABLE",
}
JOB_NOT_FOUND_MESSAGE = "no job or batch with this id"


class ApiError(Exception):
    """An error the API answers with its own status and code."""

    status = 500
    code = "INTERNAL_ERROR"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnauthorizedError(ApiError):
    """The request carries no valid API key."""

    status = 401
    code = "UNAUTHORIZED"


class JobNotFoundError(ApiError):
    """No job or batch has the id the client asked for."""

    status = 404
    code = "NOT_FOUND"


class ServiceUnavailableError(ApiError):
    """A service the API depends on (Airflow, the database) cannot be used now."""

    status = 503
    code = "SERVICE_UNAVAILABLE"


def register_error_handlers(app: Flask) -> None:
    """Answer every error raised while handling a request as JSON."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(InvalidRequestError, _invalid_request)
    app.register_error_handler(BatchNotFound, _batch_not_found)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(AirflowApiError, _airflow_error)
    app.register_error_handler(psycopg.OperationalError, _database_error)
    app.register_error_handler(PoolTimeout, _database_error)
    app.register_error_handler(Exception, _unexpected_error)


def error_response(status: int, code: str, message: str, **extra):
    """Return the JSON error body with `status`."""
    body = {"success": False, "error": code, "message": message, **extra}
    return jsonify(body), status


def _api_error(err: ApiError):
    return error_response(err.status, err.code, err.message)


def _invalid_request(err: InvalidRequestError):
    return error_response(400, "VALIDATION_ERROR", str(err), fields=[err.field])


def _batch_not_found(err: BatchNotFound):
    # A batch deleted between our read and our write.
    return error_response(404, "NOT_FOUND", JOB_NOT_FOUND_MESSAGE)


def _http_error(err: HTTPException):
    status = err.code or 500
    code = HTTP_CODES.get(status) or (err.name or "ERROR").upper().replace(" ", "_")
    if status == 413:
        message = _too_large_message()
    elif status == 404:
        message = f"no route {request.path}: the API lives under /api/"
    else:
        message = err.description or err.name
    response, status = error_response(status, code, message)
    # Keep what the exception says beyond the body, such as Allow on a 405.
    for name, value in err.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, status


def _too_large_message() -> str:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    symbols = current_app.config["MAX_SYMBOLS"]
    return (
        f"the request body is larger than {limit} bytes; "
        f"a request carries at most {symbols} symbols"
    )


def _airflow_error(err: AirflowApiError):
    log.error("Airflow call failed (status %s): %s", err.status_code, err)
    return error_response(
        503, "SERVICE_UNAVAILABLE", "Airflow cannot be used right now"
    )


def _database_error(err: Exception):
    log.error("database unavailable: %s", err)
    return error_response(503, "SERVICE_UNAVAILABLE", "the database cannot be reached")


def _unexpected_error(err: Exception):
    log.exception("unexpected error while answering a request", exc_info=err)
    return error_response(500, "INTERNAL_ERROR", "an unexpected error occurred")
