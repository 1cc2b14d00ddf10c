"""A5: a request of the wrong shape is a 400 naming the field; Airflow is not called."""

from __future__ import annotations

import pytest
from api_helpers import VALID_BODY, auth, batch_count

BAD_BODIES = {
    "symbols-a-string": ({**VALID_BODY, "symbols": "7203.T"}, "symbols"),
    "symbols-numbers": ({**VALID_BODY, "symbols": [1, 2]}, "symbols"),
    "symbols-empty": ({**VALID_BODY, "symbols": []}, "symbols"),
    "symbols-missing": ({"interval": "1d", "period": "1y"}, "symbols"),
    "symbols-blank": ({**VALID_BODY, "symbols": ["  "]}, "symbols"),
    "interval-7m": ({**VALID_BODY, "interval": "7m"}, "interval"),
    "interval-missing": ({"symbols": ["7203.T"], "period": "1y"}, "interval"),
    "interval-number": ({**VALID_BODY, "interval": 1}, "interval"),
    "period-negative": ({**VALID_BODY, "period": "-1d"}, "period"),
    "period-and-range-missing": ({"symbols": ["7203.T"], "interval": "1d"}, "period"),
    "1m-for-a-month": ({**VALID_BODY, "interval": "1m", "period": "1mo"}, "period"),
    "symbols-per-task-zero": (
        {**VALID_BODY, "symbols_per_task": 0},
        "symbols_per_task",
    ),
    "symbols-per-task-bool": (
        {**VALID_BODY, "symbols_per_task": True},
        "symbols_per_task",
    ),
}


@pytest.mark.parametrize(("body", "field"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
@pytest.mark.parametrize("phase2", [True, False], ids=["phase2", "phase1"])
def test_a_bad_request_is_a_400_naming_the_field_and_nothing_happens(
    make_app, conn, fake_airflow, body, field, phase2
):
    client = make_app(ENABLE_PHASE2=phase2).test_client()

    response = client.post("/api/bulk/start", json=body, headers=auth())

    assert response.status_code == 400
    answer = response.get_json()
    assert answer["success"] is False
    assert answer["error"] == "VALIDATION_ERROR"
    assert answer["fields"] == [field]
    assert field in answer["message"]
    assert batch_count(conn) == 0
    assert fake_airflow.calls == []


def test_more_symbols_than_the_configured_maximum_are_refused(
    make_app, conn, fake_airflow
):
    client = make_app(MAX_SYMBOLS=3).test_client()
    body = {**VALID_BODY, "symbols": ["7203.T", "6758.T", "9984.T", "AAPL"]}

    response = client.post("/api/bulk/start", json=body, headers=auth())

    assert response.status_code == 400
    assert response.get_json()["fields"] == ["symbols"]
    assert "maximum of 3" in response.get_json()["message"]
    assert batch_count(conn) == 0
    assert fake_airflow.calls == []
