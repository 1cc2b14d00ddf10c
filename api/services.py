"""Give views the batch record and an Airflow client, built once per app.

The Airflow client is not thread-safe, so each thread (gunicorn's gthread workers run
several) gets its own, authenticated once and reused afterwards.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, current_app

from api.final_jobs import FinalJobCache
from api.job_ids import JobIdClock
from kabuflow.airflow_client import AirflowClient
from kabuflow.batches import BatchService
from kabuflow.settings import SettingsError

EXTENSION = "kabuflow"


@dataclass
class Services:
    """What the views need from outside the request."""

    config: dict
    batches: BatchService | None
    final_jobs: FinalJobCache
    job_ids: JobIdClock = field(default_factory=JobIdClock)
    _local: threading.local = field(default_factory=threading.local)

    def airflow(self) -> AirflowClient:
        """Return this thread's Airflow client."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = AirflowClient(
                self.config["AIRFLOW_API_URL"],
                self.config["AIRFLOW_API_USER"],
                self.config["AIRFLOW_API_PASSWORD"],
                timeout=self.config["AIRFLOW_TIMEOUT"],
            )
            self._local.client = client
        return client


def init_services(app: Flask) -> None:
    """Build the app's services; raises `SettingsError` without an Airflow password."""
    if not app.config["AIRFLOW_API_PASSWORD"]:
        raise SettingsError(
            "AIRFLOW_API_PASSWORD", "the API cannot trigger runs without it"
        )
    batches = (
        BatchService(app.config["DATABASE_URL"])
        if app.config["ENABLE_PHASE2"]
        else None
    )
    final_jobs = FinalJobCache(app.config["STATUS_CACHE_SECONDS"])
    app.extensions[EXTENSION] = Services(app.config, batches, final_jobs)


def services() -> Services:
    """Return the current app's services."""
    return current_app.extensions[EXTENSION]
