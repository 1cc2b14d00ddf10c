"""R1, R2 and the error contract: every error is JSON of one shape, never HTML."""

from __future__ import annotations

import json
import logging

import pytest
from api_helpers import VALID_BODY, auth, batch_count

START = "/api/bulk/start"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["success"] is False
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize(
    "data",
    [
        b'{"symbols": ["7203.T"], "interval": "1d", "per',  # truncated
        b"null",
        b"[]",
        b'"7203.T"',
        b"",
        b"[" * 100_000 + b"]" * 100_000,  # nested deeper than any parser's stack
    ],
    ids=["truncated", "null", "array", "string", "empty", "deeply-nested"],
)
def test_malformed_json_is_a_400_json_error_and_creates_nothing(
    client, conn, fake_airflow, data
):
    response = client.post(
        START, data=data, content_type="application/json", headers=auth()
    )

    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["fields"] == ["body"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert batch_count(conn) == 0
    assert fake_airflow.calls == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", None, "application/x-www-form-urlencoded"]
)
def test_a_body_not_declared_json_is_a_415(client, conn, fake_airflow, content_type):
    response = client.post(
        START,
        data=json.dumps(VALID_BODY),
        content_type=content_type,
        headers=auth(),
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert batch_count(conn) == 0
    assert fake_airflow.calls == []


def test_a_50_mb_body_is_refused_413_before_it_is_parsed(client, conn, fake_airflow):
    data = b'{"symbols": ["' + b"A" * (50 * 1024 * 1024) + b'"]}'

    response = client.post(
        START, data=data, content_type="application/json", headers=auth()
    )

    body = assert_error(response, 413, "REQUEST_TOO_LARGE")
    assert "1048576 bytes" in body["message"]
    assert "5000 symbols" in body["message"]
    assert batch_count(conn) == 0
    assert fake_airflow.calls == []


def test_100000_symbols_are_refused_naming_the_maximum(client, conn, fake_airflow):
    body = {**VALID_BODY, "symbols": [f"{1000 + i % 8000}.T" for i in range(100_000)]}

    response = client.post(START, json=body, headers=auth())

    assert response.status_code in (400, 413)
    answer = response.get_json()
    assert "5000" in answer["message"]
    assert batch_count(conn) == 0
    assert fake_airflow.calls == []


def test_100000_symbols_under_the_byte_limit_are_a_400_on_symbols(
    make_app, conn, fake_airflow
):
    client = make_app(MAX_CONTENT_LENGTH=10 * 1024 * 1024).test_client()
    body = {**VALID_BODY, "symbols": [f"{1000 + i % 8000}.T" for i in range(100_000)]}

    response = client.post(START, json=body, headers=auth())

    answer = assert_error(response, 400, "VALIDATION_ERROR")
    assert answer["fields"] == ["symbols"]
    assert "maximum of 5000" in answer["message"]
    assert batch_count(conn) == 0


@pytest.mark.parametrize(
    "path",
    ["/api/bulk/status/job-1", "/api/bulk/status/999999", "/api/nothing/here"],
)
def test_unknown_ids_and_paths_are_404_json(client, fake_airflow, path):
    fake_airflow.status = 404  # Airflow has no such run either

    response = client.get(path, headers=auth())

    assert_error(response, 404, "NOT_FOUND")


def test_a_batch_id_beyond_the_column_range_is_404_not_a_database_error(client):
    response = client.get("/api/bulk/status/99999999999", headers=auth())

    assert_error(response, 404, "NOT_FOUND")


def test_a_wrong_method_is_405_json_with_allow(client):
    response = client.get(START, headers=auth())

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_an_unexpected_error_is_a_500_that_hides_its_details(make_app, caplog):
    app = make_app()

    def explode():
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/api/explode", "explode", explode)

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/api/explode", headers=auth())

    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret internal detail" not in json.dumps(body)
    assert "Traceback" not in response.get_data(as_text=True)
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "secret internal detail" in str(logged[0].exc_info[1])


def test_the_database_unreachable_is_a_503(make_app, batches):
    batch_id = batches.create_batch("bulk_fetch", symbols=["7203.T"])
    # Nothing listens on port 1: the pool gives up after its 10 s open timeout.
    app = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere")

    response = app.test_client().get(f"/api/bulk/status/{batch_id}", headers=auth())

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
