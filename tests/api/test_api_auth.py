"""R3 and rate limits: one 401 for every bad key, keys never logged, limits per key."""

from __future__ import annotations

import logging

import pytest
from api_helpers import API_KEY, OTHER_KEY, auth

from api.auth import key_matches
from api.health import airflow_check
from kabuflow.settings import SettingsError

STATUS = "/api/bulk/status/999"

BAD_HEADERS = {
    "no-header": {},
    "empty": {"X-API-KEY": ""},
    "wrong-key-same-length": {"X-API-KEY": "x" * len(API_KEY)},
    "right-key-plus-space": {"X-API-KEY": API_KEY + " "},
    "key-prefix": {"X-API-KEY": API_KEY[:-1]},
    "other-header": {"Authorization": f"Bearer {API_KEY}"},
}


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_every_bad_key_gets_the_same_401(client, headers, caplog):
    caplog.set_level(logging.DEBUG)

    response = client.get(STATUS, headers=headers)

    assert response.status_code == 401
    assert response.get_json() == {
        "success": False,
        "error": "UNAUTHORIZED",
        "message": "a valid X-API-KEY header is required",
    }
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("name", ["api_key", "X-API-KEY", "key"])
def test_a_key_in_the_query_string_is_not_accepted(client, name, caplog):
    caplog.set_level(logging.DEBUG)

    response = client.get(STATUS, query_string={name: API_KEY})

    assert response.status_code == 401
    assert response.get_json()["error"] == "UNAUTHORIZED"
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("key", [API_KEY, OTHER_KEY])
def test_every_configured_key_is_accepted_and_never_logged(client, key, caplog):
    caplog.set_level(logging.DEBUG)

    response = client.get(STATUS, headers=auth(key))

    assert response.status_code == 404  # past the key check: the batch is unknown
    assert key not in caplog.text


def test_every_route_but_health_needs_a_key(client):
    for method, path in [
        ("POST", "/api/bulk/start"),
        ("GET", "/api/bulk/status/1"),
        ("POST", "/api/bulk/stop/1"),
        ("GET", "/api/unknown"),
    ]:
        assert client.open(path, method=method).status_code == 401, path


def test_key_matches_compares_against_every_key():
    keys = ("a" * 20, "b" * 20)

    assert key_matches("b" * 20, keys)
    assert not key_matches("b" * 19, keys)
    assert not key_matches("", keys)
    assert not key_matches("a" * 20 + " ", keys)


def test_the_app_refuses_to_start_without_keys(make_app):
    with pytest.raises(SettingsError, match="KABUFLOW_API_KEYS"):
        make_app(API_KEYS=())


def test_the_development_switch_runs_without_keys(make_app):
    client = make_app(API_KEYS=(), API_ALLOW_NO_KEYS=True).test_client()

    assert client.get(STATUS).status_code == 404


def test_keys_come_from_the_environment(monkeypatch, make_app):
    from api import create_app

    monkeypatch.setenv("KABUFLOW_API_KEYS", f"{API_KEY}, {OTHER_KEY}")
    monkeypatch.setenv("AIRFLOW_API_PASSWORD", "from-the-environment")
    client = create_app({"TESTING": True}).test_client()

    assert client.get(STATUS).status_code == 401
    assert client.get(STATUS, headers=auth(OTHER_KEY)).status_code == 404


def test_the_rate_limit_counts_per_key(make_app):
    client = make_app(RATELIMIT_DEFAULT="3/minute").test_client()

    answers = [client.get(STATUS, headers=auth()).status_code for _ in range(4)]
    limited = client.get(STATUS, headers=auth())
    other = client.get(STATUS, headers=auth(OTHER_KEY))

    assert answers == [404, 404, 404, 429]
    assert limited.get_json()["error"] == "RATE_LIMIT_EXCEEDED"
    assert limited.get_json()["success"] is False
    assert "Retry-After" in limited.headers
    assert other.status_code == 404
    assert "Retry-After" not in other.headers  # not on an answer that was not refused


def test_an_answer_within_the_limit_does_not_tell_the_client_to_wait(make_app, batches):
    batch_id = batches.create_batch("bulk_fetch", symbols=["7203.T"])
    batches.update_batch_detail(batch_id, "7203.T", "success", attempt=1)
    batches.complete_batch(batch_id)
    client = make_app(RATELIMIT_DEFAULT="3/minute").test_client()

    response = client.get(f"/api/bulk/status/{batch_id}", headers=auth())

    assert response.status_code == 200
    assert "Retry-After" not in response.headers
    assert response.headers["X-RateLimit-Remaining"] == "2"


def test_the_health_check_is_neither_keyed_nor_limited(make_app):
    client = make_app(RATELIMIT_DEFAULT="1/minute").test_client()

    answers = [client.get("/api/health").status_code for _ in range(3)]

    assert 401 not in answers and 429 not in answers


@pytest.mark.parametrize("missing", ["metadatabase", "scheduler", "dag_processor"])
def test_airflow_is_unhealthy_when_one_component_it_needs_is(missing):
    report = {
        name: {"status": "healthy"}
        for name in ("metadatabase", "scheduler", "dag_processor", "triggerer")
    }
    report[missing] = {"status": "unhealthy"}

    assert airflow_check(report) == "unhealthy"
    del report[missing]
    assert airflow_check(report) == "unhealthy"


def test_airflow_is_healthy_without_a_triggerer():
    report = {
        name: {"status": "healthy"}
        for name in ("metadatabase", "scheduler", "dag_processor")
    }
    report["triggerer"] = {"status": None}

    assert airflow_check(report) == "ok"
