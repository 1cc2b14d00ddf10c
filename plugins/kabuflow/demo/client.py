"""Drive kabuflow's REST API as any client would: start a bulk job, poll its status."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from kabuflow.demo.services import DemoError

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
POLL_SECONDS = 1.0
REQUEST_TIMEOUT = 30.0


class BulkApiClient:
    """A client of `/api/bulk/*` holding one API key; use it as a context manager."""

    def __init__(self, base_url: str, api_key: str):
        self._http = httpx.Client(
            base_url=base_url,
            headers={"X-API-KEY": api_key},
            timeout=REQUEST_TIMEOUT,
        )

    def __enter__(self) -> BulkApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/bulk/start; return the 202 answer (`job_id`, `batch_db_id`)."""
        return self._call("POST", "/api/bulk/start", json=body)

    def status(self, job_ref: str | int) -> dict[str, Any]:
        """GET /api/bulk/status/<job id or batch id>; return the `job` object."""
        return self._call("GET", f"/api/bulk/status/{job_ref}")["job"]

    def watch(
        self, job_ref: str | int, on_progress: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Poll the job until it is final, passing every answer to `on_progress`."""
        while True:
            job = self.status(job_ref)
            on_progress(job)
            if job["status"] in FINAL_STATUSES:
                return job
            time.sleep(POLL_SECONDS)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise DemoError(f"{method} {path}: the API did not answer: {exc}") from exc
        body = _json(response)
        if response.is_error:
            raise DemoError(
                f"{method} {path} answered {response.status_code} "
                f"{body.get('error')}: {body.get('message')}"
            )
        return body


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        return response.json()
    except ValueError:
        raise DemoError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} without JSON: {response.text[:200]!r}"
        ) from None
