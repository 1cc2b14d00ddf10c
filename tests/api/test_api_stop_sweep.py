"""The stop sends Airflow's stop again while instances of the run still wait.

Airflow's side of the wire is scripted (`httpx.MockTransport`), shaped like what
Airflow 3.3.2 answered in a real run stopped while its map expanded: the run failed,
yet instances it had just scheduled stayed `scheduled`. The real layer stops live
runs in `test_api_airflow.py` and `test_api_stop_airflow.py`.
"""

from __future__ import annotations

import json

import httpx
import pytest
from api_helpers import auth

import api.stop
from api.airflow_jobs import STOP_NOTE
from api.services import services
from kabuflow.airflow_client import AirflowClient

JOB = "job-1767600000000"
RUN_PATH = f"/api/v2/dags/bulk_fetch/dagRuns/{JOB}"


class StoppingAirflow:
    """One run of three fetches; the first stops leave `waiting` ones scheduled."""

    def __init__(self, waiting_after_stops: list[int]):
        self.waiting_after_stops = waiting_after_stops
        self.stops: list[dict] = []
        self.state = "running"

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "a.e30.c"})
        if request.method == "PATCH" and request.url.path == RUN_PATH:
            self.stops.append(json.loads(request.content))
            self.state = "failed"
            return httpx.Response(200, json=self._run())
        if request.url.path == RUN_PATH:
            return httpx.Response(200, json=self._run())
        if request.url.path == RUN_PATH + "/taskInstances":
            return httpx.Response(200, json=self._instances())
        return httpx.Response(404, json={"detail": "not scripted"})

    def _run(self) -> dict:
        note = STOP_NOTE if self.stops else None
        conf = {"symbols": ["7203.T", "6758.T", "9984.T"], "symbols_per_task": 1}
        return {"dag_run_id": JOB, "state": self.state, "note": note, "conf": conf}

    def _instances(self) -> dict:
        stops = len(self.stops)
        waiting = self.waiting_after_stops[stops - 1] if stops else 0
        states = ["failed"] * (3 - waiting) + ["scheduled"] * waiting
        if not stops:
            states = ["running", "scheduled", "scheduled"]
        instances = [
            {"task_id": "fetch_prices", "map_index": i, "state": state}
            for i, state in enumerate(states)
        ]
        return {"task_instances": instances, "next_cursor": None}


@pytest.fixture
def stopping(make_app, monkeypatch):
    """An app without Phase 2 whose Airflow is `StoppingAirflow`; no real sleeps."""
    slept: list[float] = []
    monkeypatch.setattr(api.stop.time, "sleep", slept.append)

    def make(waiting_after_stops):
        airflow = StoppingAirflow(waiting_after_stops)
        app = make_app(ENABLE_PHASE2=False)
        client = AirflowClient(
            "http://airflow.test",
            "kabuflow",
            "pw",
            transport=httpx.MockTransport(airflow.handle),
        )
        with app.app_context():
            services()._local.client = client
        return app.test_client(), airflow, slept

    return make


def test_instances_left_waiting_get_the_stop_again_until_none_waits(stopping):
    client, airflow, slept = stopping([2, 1, 0])

    answer = client.post(f"/api/bulk/stop/{JOB}", headers=auth())

    assert answer.status_code == 200
    assert answer.get_json()["job"]["status"] == "cancelled"
    assert airflow.stops == [{"state": "failed", "note": STOP_NOTE}] * 3
    assert slept == list(api.stop.SWEEP_DELAYS[:2])


def test_a_stop_that_leaves_nothing_waiting_is_sent_once(stopping):
    client, airflow, slept = stopping([0])

    answer = client.post(f"/api/bulk/stop/{JOB}", headers=auth())

    assert answer.status_code == 200
    assert len(airflow.stops) == 1 and slept == []


def test_the_sweep_gives_up_after_its_last_delay(stopping):
    client, airflow, slept = stopping([3, 3, 3, 3, 3])

    answer = client.post(f"/api/bulk/stop/{JOB}", headers=auth())

    assert answer.status_code == 200
    assert len(airflow.stops) == 1 + len(api.stop.SWEEP_DELAYS)
    assert slept == list(api.stop.SWEEP_DELAYS)
