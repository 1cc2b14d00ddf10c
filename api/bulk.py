"""The bulk job resource: start, status and stop, in the shapes clients rely on."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify

from api.job_ids import parse_job_ref
from api.jobs import current_job
from api.json_body import read_json_object
from api.progress import job_view
from api.start import start_job
from api.stop import stop_job
from kabuflow.bulk_request import parse_bulk_request

bp = Blueprint("bulk", __name__, url_prefix="/api/bulk")


@bp.post("/start")
def start():
    """Validate the request, record and trigger the job; answer 202 with its ids."""
    body = read_json_object()
    request = parse_bulk_request(body, max_symbols=current_app.config["MAX_SYMBOLS"])

    job = start_job(request)

    answer = {"success": True, "job_id": job.job_id}
    if job.batch_id is not None:
        answer["batch_db_id"] = job.batch_id
    answer["status"] = "accepted"
    return jsonify(answer), 202


@bp.get("/status/<job_ref>")
def status(job_ref: str):
    """Answer the job named by a job id or a batch id, as it stands now."""
    job = current_job(parse_job_ref(job_ref))

    return jsonify({"success": True, "job": job_view(job, datetime.now(UTC))})


@bp.post("/stop/<job_ref>")
def stop(job_ref: str):
    """Stop the job; a job already over is answered as it is, with a message."""
    outcome = stop_job(parse_job_ref(job_ref))

    return jsonify(
        {
            "success": True,
            "message": outcome.message,
            "job": job_view(outcome.job, datetime.now(UTC)),
        }
    )
