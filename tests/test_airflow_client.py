"""The Airflow REST client: tokens, paging, error mapping; then against real Airflow.

The first tests answer through `httpx.MockTransport` (Airflow's side of the wire is
what is scripted, nothing of ours); those marked `airflow` use the session's stack.
"""

from __future__ import annotations

import base64
import inspect
import json
import time

import httpx
import pytest
from airflow_fixtures import wait_for_dag

from kabuflow.airflow_client import (
    AirflowClient,
    error_for_response,
    translate_exception,
)
from kabuflow.errors import (
    AirflowApiError,
    AirflowAuthError,
    AirflowConflictError,
    AirflowNotFoundError,
    AirflowProtocolError,
    AirflowRejectedError,
    AirflowUnavailableError,
    PermanentError,
    RetryableError,
)
from kabuflow.settings import Settings, SettingsError

BASE = "http://airflow.test"
MAP_DAG = "kabuflow_test_map"


def make_token(lifetime: float) -> str:
    """Return a JWT-shaped token expiring `lifetime` seconds from now (unsigned)."""

    def part(data: dict) -> str:
        raw = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
        return raw.rstrip("=")

    claims = {"sub": "kabuflow", "exp": int(time.time() + lifetime)}
    return f"{part({'alg': 'HS512'})}.{part(claims)}.signature"


class FakeAirflow:
    """Airflow's side of the wire: issues tokens, answers from a script, records all."""

    def __init__(self, token_lifetime: float = 86400):
        self.token_lifetime = token_lifetime
        self.tokens: list[str] = []
        self.requests: list[httpx.Request] = []
        self.answers: list[httpx.Response] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/auth/token":
            self.tokens.append(make_token(self.token_lifetime) + str(len(self.tokens)))
            return httpx.Response(201, json={"access_token": self.tokens[-1]})
        if self.answers:
            return self.answers.pop(0)
        return httpx.Response(200, json={"ok": True})

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/auth/token"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake():
    return FakeAirflow()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(fake, clock):
    transport = httpx.MockTransport(fake.handle)
    with AirflowClient(BASE, "kabuflow", "pw", transport=transport, clock=clock) as c:
        yield c


def test_a_token_is_fetched_once_and_sent_with_every_call(fake, client):
    client.get_dag("a")
    client.get_dag("b")

    token_requests = [r for r in fake.requests if r.url.path == "/auth/token"]
    assert len(token_requests) == 1
    assert json.loads(token_requests[0].content) == {
        "username": "kabuflow",
        "password": "pw",
    }
    assert {r.headers["Authorization"] for r in fake.api_requests()} == {
        f"Bearer {fake.tokens[0]}"
    }


def test_the_token_is_renewed_before_it_expires(fake, client, clock):
    client.get_dag("a")
    clock.now += 86400 - 400  # outside the 300 s renew margin: keep the token
    client.get_dag("a")
    kept = len(fake.tokens)
    clock.now += 200  # 200 s before expiry: renew
    client.get_dag("a")

    assert (kept, len(fake.tokens)) == (1, 2)
    assert (
        fake.api_requests()[-1].headers["Authorization"] == f"Bearer {fake.tokens[1]}"
    )


def test_a_401_renews_the_token_once_and_repeats_the_call(fake, client):
    fake.answers = [httpx.Response(401, json={"detail": "Invalid JWT"})]

    assert client.get_dag("a") == {"ok": True}
    assert len(fake.tokens) == 2
    assert len(fake.api_requests()) == 2


def test_a_second_401_is_an_auth_error(fake, client):
    fake.answers = [httpx.Response(401, json={"detail": "no"})] * 2

    with pytest.raises(AirflowAuthError) as caught:
        client.get_dag("a")

    assert caught.value.status_code == 401
    assert len(fake.tokens) == 2


def test_refused_credentials_are_an_auth_error_naming_the_user():
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "Invalid credentials"})

    transport = httpx.MockTransport(refuse)
    with AirflowClient(BASE, "kabuflow", "bad", transport=transport) as client:
        with pytest.raises(AirflowAuthError, match="kabuflow"):
            client.get_dag_run("d", "r")


def test_every_call_carries_all_four_timeouts(fake, client):
    client.health()
    client.get_dag("a")

    for request in fake.requests:
        assert request.extensions["timeout"] == {
            "connect": 10.0,
            "read": 10.0,
            "write": 10.0,
            "pool": 10.0,
        }


def test_trigger_sends_a_null_logical_date_and_the_conf(fake, client):
    client.trigger_dag_run("bulk_fetch", "job-1", {"symbols": ["7203.T"]})

    request = fake.api_requests()[0]
    assert (request.method, request.url.path) == (
        "POST",
        "/api/v2/dags/bulk_fetch/dagRuns",
    )
    assert json.loads(request.content) == {
        "dag_run_id": "job-1",
        "logical_date": None,
        "conf": {"symbols": ["7203.T"]},
    }


def test_stop_and_unpause_are_patches(fake, client):
    client.set_dag_run_state("bulk_fetch", "job-1", "failed")
    client.unpause_dag("bulk_fetch")

    first, second = fake.api_requests()
    assert (first.method, first.url.path) == (
        "PATCH",
        "/api/v2/dags/bulk_fetch/dagRuns/job-1",
    )
    assert json.loads(first.content) == {"state": "failed"}
    assert (second.method, second.url.path) == ("PATCH", "/api/v2/dags/bulk_fetch")
    assert json.loads(second.content) == {"is_paused": False}


@pytest.fixture
def patient(fake, clock):
    """A client whose retry delays are recorded instead of slept."""
    slept: list[float] = []
    transport = httpx.MockTransport(fake.handle)
    with AirflowClient(
        BASE, "kabuflow", "pw", transport=transport, clock=clock, sleep=slept.append
    ) as c:
        c.slept = slept
        yield c


def test_a_stop_airflow_answered_500_is_sent_again(fake, patient):
    # What Airflow's api-server answers when its UPDATE of dag_run deadlocks.
    fake.answers = [httpx.Response(500, json={"reason": "Database error"})] * 2

    run = patient.set_dag_run_state("bulk_fetch", "job-1", "failed")

    assert run == {"ok": True}
    assert [r.method for r in fake.api_requests()] == ["PATCH"] * 3
    assert patient.slept == [0.2, 1.0]


def test_a_stop_gives_up_after_three_500s_and_other_errors_at_once(fake, patient):
    fake.answers = [httpx.Response(500, json={"reason": "Database error"})] * 3
    with pytest.raises(AirflowUnavailableError):
        patient.set_dag_run_state("bulk_fetch", "job-1", "failed")

    fake.answers = [httpx.Response(503, json={}), httpx.Response(404, json={})]
    with pytest.raises(AirflowUnavailableError):
        patient.set_dag_run_state("bulk_fetch", "job-2", "failed")
    with pytest.raises(AirflowNotFoundError):
        patient.set_dag_run_state("bulk_fetch", "job-3", "failed")
    assert len(fake.api_requests()) == 5


def test_ids_stay_one_path_segment(fake, client):
    client.get_dag_run("d", "manual__2024-01-01T00:00:00+00:00/x?y#z")

    assert fake.api_requests()[0].url.raw_path == (
        b"/api/v2/dags/d/dagRuns/manual__2024-01-01T00%3A00%3A00%2B00%3A00%2Fx%3Fy%23z"
    )


def test_task_instances_are_read_page_by_page_with_the_cursor(fake, client):
    pages = [
        {"task_instances": [{"map_index": i} for i in range(100)], "next_cursor": "c1"},
        {"task_instances": [{"map_index": 100}], "next_cursor": None},
    ]
    fake.answers = [httpx.Response(200, json=page) for page in pages]

    instances = client.list_task_instances("d", "r")

    assert [ti["map_index"] for ti in instances] == list(range(101))
    cursors = [r.url.params["cursor"] for r in fake.api_requests()]
    assert cursors == ["", "c1"]
    assert {r.url.params["order_by"] for r in fake.api_requests()} == {"id"}


def test_ensure_pool_creates_a_missing_pool(fake, client):
    fake.answers = [
        httpx.Response(404, json={"detail": "not found"}),
        httpx.Response(201, json={"name": "yahoo", "slots": 8}),
    ]

    assert client.ensure_pool("yahoo", 8, "Yahoo requests")["slots"] == 8
    patch, post = fake.api_requests()
    assert patch.url.params.get_list("update_mask") == ["slots", "description"]
    assert json.loads(post.content) == {
        "name": "yahoo",
        "slots": 8,
        "description": "Yahoo requests",
    }


def test_a_body_that_is_not_json_is_a_protocol_error(fake, client):
    fake.answers = [httpx.Response(200, text="<html>proxy</html>")]

    with pytest.raises(AirflowProtocolError):
        client.get_dag("a")


def test_from_settings_refuses_to_run_without_a_password():
    with pytest.raises(SettingsError, match="AIRFLOW_API_PASSWORD"):
        AirflowClient.from_settings(Settings(airflow_api_password=None))


# --- every httpx exception and every status family maps to one of ours ---------------

RETRYABLE_EXCEPTIONS = {
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.PoolTimeout,
    httpx.CloseError,
    httpx.NetworkError,
    httpx.TimeoutException,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
}


def _httpx_exception_classes() -> list[type[Exception]]:
    return [
        value
        for value in vars(httpx).values()
        if inspect.isclass(value) and issubclass(value, Exception)
    ]


def _instance(cls: type[Exception]) -> Exception:
    request = httpx.Request("GET", f"{BASE}/api/v2/dags/x")
    if issubclass(cls, httpx.HTTPStatusError):
        response = httpx.Response(503, request=request)
        return cls("boom", request=request, response=response)
    if issubclass(cls, httpx.StreamError):
        return cls() if cls is not httpx.StreamError else cls("boom")
    if issubclass(cls, httpx.RequestError):
        return cls("boom", request=request)
    return cls("boom")


def test_every_httpx_exception_class_maps_to_one_of_ours():
    classes = _httpx_exception_classes()
    assert len(classes) >= 25  # the walk found httpx's hierarchy, not nothing

    for cls in classes:
        ours = translate_exception(_instance(cls))
        assert isinstance(ours, AirflowApiError), cls
        expected = RetryableError if cls in RETRYABLE_EXCEPTIONS else PermanentError
        if cls is httpx.HTTPStatusError:
            expected = RetryableError  # it carries a 503
        assert isinstance(ours, expected), (cls, type(ours))


@pytest.mark.parametrize(
    "exception",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.InvalidURL("x")],
)
def test_a_transport_failure_surfaces_as_ours_chained_to_the_cause(exception):
    def fail(request: httpx.Request) -> httpx.Response:
        raise exception

    with AirflowClient(BASE, "u", "p", transport=httpx.MockTransport(fail)) as client:
        with pytest.raises(AirflowApiError) as caught:
            client.health()

    assert caught.value.__cause__ is exception


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (301, AirflowProtocolError),
        (307, AirflowProtocolError),
        (400, AirflowRejectedError),
        (401, AirflowAuthError),
        (403, AirflowAuthError),
        (404, AirflowNotFoundError),
        (405, AirflowRejectedError),
        (409, AirflowConflictError),
        (413, AirflowRejectedError),
        (415, AirflowRejectedError),
        (422, AirflowRejectedError),
        (429, AirflowUnavailableError),
        (500, AirflowUnavailableError),
        (502, AirflowUnavailableError),
        (503, AirflowUnavailableError),
        (504, AirflowUnavailableError),
    ],
)
def test_every_status_family_maps_to_one_of_ours(status, expected):
    request = httpx.Request("POST", f"{BASE}/api/v2/dags/d/dagRuns")
    response = httpx.Response(status, json={"detail": "why"}, request=request)

    error = error_for_response(response)

    assert type(error) is expected
    assert (error.status_code, error.detail) == (status, "why")


# --- against the real api-server ------------------------------------------------------


@pytest.mark.airflow
def test_health_reports_the_scheduler_and_dag_processor(airflow_client):
    health = airflow_client.health()

    assert health["scheduler"]["status"] == "healthy"
    assert health["dag_processor"]["status"] == "healthy"


@pytest.mark.airflow
def test_real_airflow_errors_map_to_ours(airflow_client):
    wait_for_dag(airflow_client, MAP_DAG)
    run_id = f"conflict-{time.time_ns()}"
    airflow_client.trigger_dag_run(MAP_DAG, run_id, {"items": []})

    with pytest.raises(AirflowConflictError):
        airflow_client.trigger_dag_run(MAP_DAG, run_id, {"items": []})
    with pytest.raises(AirflowRejectedError) as rejected:
        airflow_client.trigger_dag_run(MAP_DAG, run_id + "-bad", {"items": "7203.T"})
    with pytest.raises(AirflowNotFoundError):
        airflow_client.get_dag_run(MAP_DAG, "no-such-run")
    with pytest.raises(AirflowNotFoundError):
        airflow_client.trigger_dag_run("no_such_dag", run_id, {})

    assert rejected.value.status_code == 400
    assert "items" in str(rejected.value.detail)


@pytest.mark.airflow
def test_pause_and_unpause_reach_airflow(airflow_client):
    wait_for_dag(airflow_client, MAP_DAG)
    assert airflow_client.pause_dag(MAP_DAG)["is_paused"] is True
    assert airflow_client.get_dag(MAP_DAG)["is_paused"] is True

    answer = airflow_client.unpause_dag(MAP_DAG)

    assert answer["is_paused"] is False
    assert airflow_client.get_dag(MAP_DAG)["is_paused"] is False
