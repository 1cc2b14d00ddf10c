"""Cases A5, R1, R2 and R3 against the real stack: a refused request reaches nothing.

The fast tests (`test_api_validation.py`, `test_api_errors.py`, `test_api_auth.py`)
go through every refusal in detail against a stand-in Airflow. Here the same inputs go
to an app wired to the real Airflow and the stack's app database, and each answer is
checked with what it must not have done: no batch row, no run in Airflow's metadata
database, no key in the log.
"""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
from api_helpers import API_KEY, VALID_BODY, auth
from live_api import BULK_DAG
from request_cases import MALFORMED_IDS, MALFORMED_REQUESTS

from kabuflow.stack.database import libpq_url

pytestmark = pytest.mark.airflow

START = "/api/bulk/start"
JSON = "application/json"
BODY = json.dumps(VALID_BODY).encode()
MANY = [f"{1000 + i % 8000}.T" for i in range(100_000)]

# (id, JSON body, the field the answer must name); each below 1 MiB, so a 400
CASES = [
    *(
        (name, body, field)
        for name, (body, field) in zip(MALFORMED_IDS, MALFORMED_REQUESTS, strict=True)
    ),
    ("r2-100000-symbols", {**VALID_BODY, "symbols": MANY}, "symbols"),
]
# (id, raw body, content type, headers, status, error code)
RAW_CASES = [
    ("r1-truncated", BODY[:-7], JSON, auth(), 400, "VALIDATION_ERROR"),
    ("r1-null", b"null", JSON, auth(), 400, "VALIDATION_ERROR"),
    ("r1-text-plain", BODY, "text/plain", auth(), 415, "UNSUPPORTED_MEDIA_TYPE"),
    (
        "r2-50-mb",
        b'{"symbols": ["' + b"A" * (50 * 1024 * 1024) + b'"]}',
        JSON,
        auth(),
        413,
        "REQUEST_TOO_LARGE",
    ),
    ("r3-no-header", BODY, JSON, {}, 401, "UNAUTHORIZED"),
    ("r3-empty", BODY, JSON, {"X-API-KEY": ""}, 401, "UNAUTHORIZED"),
    ("r3-wrong-key", BODY, JSON, auth("x" * len(API_KEY)), 401, "UNAUTHORIZED"),
    ("r3-key-plus-space", BODY, JSON, auth(API_KEY + " "), 401, "UNAUTHORIZED"),
]


@pytest.fixture
def live_client(make_live_app):
    return make_live_app().test_client()


@pytest.fixture
def nothing_created(live):
    """Fail the test if a batch row or a bulk_fetch run appeared during it."""
    before = _counts(live)
    yield
    assert _counts(live) == before, "a refused request created a batch or a run"


def _counts(live) -> tuple[int, int]:
    with psycopg.connect(live.config.app_database_url) as app:
        [batches] = app.execute("SELECT count(*) FROM batch_executions").fetchone()
    metadata = libpq_url(live.config.metadata_database_url)
    with psycopg.connect(metadata) as airflow:
        [runs] = airflow.execute(
            "SELECT count(*) FROM dag_run WHERE dag_id = %s", (BULK_DAG,)
        ).fetchone()
    return batches, runs


@pytest.mark.parametrize(
    ("body", "field"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_request_of_the_wrong_shape_names_its_field_and_reaches_nothing(
    live_client, nothing_created, body, field
):
    response = live_client.post(START, json=body, headers=auth())

    answer = _error(response, 400, "VALIDATION_ERROR")
    assert field in answer["fields"]


@pytest.mark.parametrize(
    ("data", "content_type", "headers", "status", "code"),
    [case[1:] for case in RAW_CASES],
    ids=[case[0] for case in RAW_CASES],
)
def test_a_malformed_oversized_or_unkeyed_request_reaches_nothing(
    live_client, nothing_created, caplog, data, content_type, headers, status, code
):
    caplog.set_level(logging.DEBUG)

    response = live_client.post(
        START, data=data, content_type=content_type, headers=headers
    )

    _error(response, status, code)
    assert API_KEY not in caplog.text


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    answer = response.get_json()
    assert (answer["success"], answer["error"]) == (False, code)
    assert answer["message"] and "Traceback" not in answer["message"]
    return answer
