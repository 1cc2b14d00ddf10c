"""Talk to Airflow's REST API (v2) as a service user, with a JWT from `/auth/token`.

Every call has a timeout; every failure comes out as one of the `Airflow*Error` classes
in `kabuflow.errors` (`AirflowUnavailableError` is the only retryable one).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from kabuflow.errors import (
    AirflowApiError,
    AirflowAuthError,
    AirflowConflictError,
    AirflowNotFoundError,
    AirflowProtocolError,
    AirflowRejectedError,
    AirflowUnavailableError,
)
from kabuflow.settings import Settings, SettingsError, get_settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
# Renew this long before the token's `exp`, so a call never starts with a dying token.
TOKEN_RENEW_MARGIN = 300.0
# Used when a token carries no readable `exp`: Airflow's default lifetime is 24 h.
FALLBACK_TOKEN_LIFETIME = 3600.0
# Airflow caps `limit` at `[api] maximum_page_limit`, 100 by default.
PAGE_LIMIT = 100
# Seconds before each new try of a state change Airflow answered with a 500.
STATE_RETRY_DELAYS = (0.2, 1.0)

_UNAVAILABLE_TRANSPORT = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)


class AirflowClient:
    """A client of one Airflow api-server, authenticated as one user.

    Not thread-safe: give each thread its own client.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._username = username
        self._password = password
        self._clock = clock
        self._sleep = sleep
        self._token: str | None = None
        self._renew_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> AirflowClient:
        """Build a client from `AIRFLOW_API_URL`, `AIRFLOW_API_USER`, `..._PASSWORD`.

        Raises `SettingsError` when no password is configured.
        """
        settings = settings or get_settings()
        if not settings.airflow_api_password:
            raise SettingsError(
                "AIRFLOW_API_PASSWORD", "not set; `make airflow-up` prints where it is"
            )
        return cls(
            settings.airflow_api_url,
            settings.airflow_api_user,
            settings.airflow_api_password,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        """Return Airflow's health report: metadatabase, scheduler, dag_processor."""
        return self._call("GET", "/api/v2/monitor/health", authenticated=False)

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        """Return the DAG's details; `AirflowNotFoundError` until it has been parsed."""
        return self._call("GET", _dag_path(dag_id))

    def unpause_dag(self, dag_id: str) -> dict[str, Any]:
        """Unpause the DAG so the scheduler starts its runs; return the DAG."""
        return self._call("PATCH", _dag_path(dag_id), json={"is_paused": False})

    def pause_dag(self, dag_id: str) -> dict[str, Any]:
        """Pause the DAG: runs already running go on, new ones wait; return the DAG."""
        return self._call("PATCH", _dag_path(dag_id), json={"is_paused": True})

    def trigger_dag_run(
        self, dag_id: str, run_id: str, conf: dict[str, Any]
    ) -> dict[str, Any]:
        """Create a manual run with `run_id` and `conf`; return the new run.

        Raises `AirflowConflictError` if the run id exists and `AirflowRejectedError`
        (with Airflow's `detail`) if `conf` fails the DAG's params.
        """
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        return self._call("POST", _dag_path(dag_id) + "/dagRuns", json=body)

    def get_dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Return the run, its `state` included."""
        return self._call("GET", _run_path(dag_id, run_id))

    def set_dag_run_state(
        self, dag_id: str, run_id: str, state: str, note: str | None = None
    ) -> dict[str, Any]:
        """Set the run's state (`failed` stops it, `success`, `queued`); return the run.

        `note`, if given, becomes the run's note (shown in the UI) in the same call.

        Airflow fires no callback for a run stopped this way. Setting a state is
        idempotent, so a 500 is tried again (`STATE_RETRY_DELAYS`): Airflow 3.3's
        api-server answers 500 when its update of the run deadlocks with the
        scheduler updating the run's task instances (seen here; PostgreSQL rolls
        the victim back, so nothing was half done).
        """
        path = _run_path(dag_id, run_id)
        body = {"state": state} if note is None else {"state": state, "note": note}
        for delay in STATE_RETRY_DELAYS:
            try:
                return self._call("PATCH", path, json=body)
            except AirflowUnavailableError as err:
                if err.status_code != 500:
                    raise
                log.warning("setting run %s %s failed (%s); again", run_id, state, err)
                self._sleep(delay)
        return self._call("PATCH", path, json=body)

    def list_task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return every task instance of the run, mapped ones included, oldest first.

        Pages with Airflow's cursor, so instances that appear meanwhile (a mapped task
        expanding) are neither skipped nor repeated.
        """
        path = _run_path(dag_id, run_id) + "/taskInstances"
        params: dict[str, Any] = {"order_by": "id", "limit": PAGE_LIMIT, "cursor": ""}
        instances: list[dict[str, Any]] = []
        while True:
            page = self._call("GET", path, params=params)
            instances.extend(page["task_instances"])
            if not page.get("next_cursor"):
                return instances
            params["cursor"] = page["next_cursor"]

    def get_pool(self, name: str) -> dict[str, Any]:
        """Return the pool; `AirflowNotFoundError` if it does not exist."""
        return self._call("GET", f"/api/v2/pools/{_seg(name)}")

    def ensure_pool(self, name: str, slots: int, description: str) -> dict[str, Any]:
        """Create the pool, or set its slots and description if it exists.

        Needs a user with the `op` or `admin` role.
        """
        body = {"slots": slots, "description": description}
        # Airflow validates a patch as a whole pool; the mask limits what changes.
        patch = {"pool": name, "include_deferred": False, **body}
        mask = {"update_mask": list(body)}
        try:
            path = f"/api/v2/pools/{_seg(name)}"
            return self._call("PATCH", path, json=patch, params=mask)
        except AirflowNotFoundError:
            return self._call("POST", "/api/v2/pools", json={"name": name, **body})

    def _call(
        self, method: str, path: str, *, authenticated: bool = True, **kwargs: Any
    ) -> Any:
        response = self._send(method, path, authenticated, **kwargs)
        if authenticated and response.status_code == 401:
            # The api-server may have restarted with a new secret: one fresh token.
            log.info("Airflow answered 401 to %s %s; renewing the token", method, path)
            self._token = None
            response = self._send(method, path, authenticated, **kwargs)
        return _json_or_raise(response)

    def _send(
        self, method: str, path: str, authenticated: bool, **kwargs: Any
    ) -> httpx.Response:
        headers = {}
        if authenticated:
            headers["Authorization"] = f"Bearer {self._valid_token()}"
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise translate_exception(exc) from exc

    def _valid_token(self) -> str:
        if self._token is None or self._clock() >= self._renew_at:
            self._token = self._new_token()
        return self._token

    def _new_token(self) -> str:
        body = {"username": self._username, "password": self._password}
        try:
            response = self._http.post("/auth/token", json=body)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise translate_exception(exc) from exc
        if response.status_code in (400, 401, 403):
            raise AirflowAuthError(
                f"Airflow refused the credentials of user {self._username!r}",
                response.status_code,
                _detail(response),
            )
        token = _json_or_raise(response)["access_token"]
        lifetime = _token_lifetime(token)
        self._renew_at = self._clock() + max(
            lifetime - TOKEN_RENEW_MARGIN, lifetime / 2
        )
        log.debug("obtained an Airflow token valid for %.0f s", lifetime)
        return token


def translate_exception(exc: Exception) -> AirflowApiError:
    """Return the kabuflow error for an httpx exception raised while calling Airflow."""
    if isinstance(exc, _UNAVAILABLE_TRANSPORT):
        return AirflowUnavailableError(f"Airflow unreachable: {exc!r}")
    if isinstance(exc, httpx.HTTPStatusError):
        return error_for_response(exc.response)
    return AirflowProtocolError(f"request to Airflow went wrong: {exc!r}")


def error_for_response(response: httpx.Response) -> AirflowApiError:
    """Return the kabuflow error for a response that is not a 2xx answer."""
    status = response.status_code
    detail = _detail(response)
    message = f"Airflow answered {status} to {response.request.method} "
    message += f"{response.request.url.path}: {detail}"
    if status >= 500 or status == 429:
        return AirflowUnavailableError(message, status, detail)
    if status in (401, 403):
        return AirflowAuthError(message, status, detail)
    if status == 404:
        return AirflowNotFoundError(message, status, detail)
    if status == 409:
        return AirflowConflictError(message, status, detail)
    if 400 <= status < 500:
        return AirflowRejectedError(message, status, detail)
    return AirflowProtocolError(message, status, detail)


def _dag_path(dag_id: str) -> str:
    return f"/api/v2/dags/{_seg(dag_id)}"


def _run_path(dag_id: str, run_id: str) -> str:
    return f"{_dag_path(dag_id)}/dagRuns/{_seg(run_id)}"


def _seg(value: str) -> str:
    """Quote one path segment, so an id with `/`, `?` or `#` stays one segment."""
    return quote(value, safe="")


def _json_or_raise(response: httpx.Response) -> Any:
    if not response.is_success:
        raise error_for_response(response)
    if response.status_code == 204:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AirflowProtocolError(
            f"Airflow answered {response.status_code} with a body that is not JSON",
            response.status_code,
        ) from exc


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:500]
    return body.get("detail", body) if isinstance(body, dict) else body


def _token_lifetime(token: str) -> float:
    """Return the seconds until the JWT's `exp`, read without checking the signature."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        return float(claims["exp"]) - time.time()
    except (IndexError, ValueError, KeyError, TypeError):
        log.warning("Airflow token has no readable exp; renewing it hourly")
        return FALLBACK_TOKEN_LIFETIME
