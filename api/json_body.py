"""Read a request's JSON body, refusing anything that is not one JSON object."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from kabuflow.errors import InvalidRequestError


def read_json_object() -> dict[str, Any]:
    """Return the body as a dict.

    Raises `UnsupportedMediaType` (415) unless the body is declared
    `application/json`, `InvalidRequestError` (field `body`) for text that is not
    JSON or JSON that is not an object, and `RequestEntityTooLarge` (413, unread)
    beyond `MAX_CONTENT_LENGTH`.
    """
    if not request.is_json:
        raise UnsupportedMediaType("send the request body as application/json")
    try:
        body = request.get_json()
    except (BadRequest, RecursionError) as err:
        # RecursionError: JSON nested deeper than the parser's stack allows.
        raise InvalidRequestError("body", "the body is not valid JSON") from err
    if not isinstance(body, dict):
        raise InvalidRequestError("body", "expected a JSON object")
    return body
