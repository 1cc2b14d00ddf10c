"""Benchmark `GET /api/bulk/status/<batch id>` under gunicorn with 50 wrk clients.

Run it with `make bench-status` (which installs wrk from Debian, `apt-get install -y
wrk`, when it is missing) or `.venv/bin/python benchmarks/bench_status.py`. It needs
PostgreSQL at `KABUFLOW_BENCH_DATABASE_URL` (default: database `kabuflow_bench` on
127.0.0.1:5432, created and migrated here).

It records a finished batch of 500 stocks, starts gunicorn exactly as `make api-up`
does (2 gthread workers), drives the status of that batch with wrk from a separate
process, and prints requests/s, p50, p99 and the workers' peak RSS. It does so twice,
side by side: with the API's short cache of final jobs (`KABUFLOW_STATUS_CACHE_SECONDS`,
default 2 s) and with it off, so every answer is read from PostgreSQL. Goal on 2
cores: p99 < 50 ms and >= 500 requests/s. Airflow is pointed at a closed port: the
status of a final batch must be answered without it, and any call would surface as
non-2xx answers.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg
from psycopg import sql

from kabuflow import migrations
from kabuflow.batches import BatchService

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kabuflow_bench"
STOCKS = 500
# (label, KABUFLOW_STATUS_CACHE_SECONDS): the API's default, then every read from SQL.
CACHE_MODES = (("cached 2 s", 2), ("no cache", 0))
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: str | None


def main() -> int:
    args = _arguments()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk (or run `make bench-status`)")
    batch_id = prepare_batch(args.database_url)
    key = secrets.token_urlsafe(24)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api/bulk/status/{batch_id}"

    results = {}
    for label, cache_seconds in CACHE_MODES:
        with tempfile.TemporaryDirectory(prefix="kabuflow-bench-") as logs:
            server = start_gunicorn(args, port, key, Path(logs), cache_seconds)
            try:
                _wait_until_ready(url, key, server)
                result = run_wrk(args, url, key)
                results[label] = (result, _workers_peak_rss(server.pid))
            finally:
                _stop(server)

    _report(args, results)
    return 0 if all(r.non_2xx == 0 for r, _ in results.values()) else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("KABUFLOW_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=20, help="seconds")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-threads", type=int, default=4)
    return parser.parse_args()


def prepare_batch(database_url: str) -> int:
    """Create and migrate the database if needed; return a finished batch's id."""
    _create_database(database_url)
    migrations.upgrade(database_url)
    batches = BatchService(database_url)
    symbols = [f"{1300 + i}.T" for i in range(STOCKS)]

    batch_id = batches.create_batch(
        "bulk_fetch",
        symbols=symbols,
        job_id=f"job-{time.time_ns() // 1_000_000}",
        dag_id="bulk_fetch",
        parameters={"interval": "1d", "period": "1y", "benchmark": True},
    )
    for index, symbol in enumerate(symbols):
        status = "failed" if index % 50 == 0 else "success"
        batches.update_batch_detail(batch_id, symbol, status, attempt=1)
    batches.complete_batch(batch_id)
    return batch_id


def _create_database(database_url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    admin_url = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if conn.execute(query, (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def start_gunicorn(
    args: argparse.Namespace, port: int, key: str, logs: Path, cache_seconds: int
) -> subprocess.Popen:
    """Start gunicorn with the API's own config, as `make api-up` does."""
    env = {
        "KABUFLOW_STATUS_CACHE_SECONDS": str(cache_seconds),
        **os.environ,
        "KABUFLOW_API_BIND": f"127.0.0.1:{port}",
        "KABUFLOW_API_WORKERS": str(args.workers),
        "KABUFLOW_API_THREADS": str(args.worker_threads),
        "KABUFLOW_API_ACCESS_LOG": str(logs / "access.log"),
        "KABUFLOW_API_ERROR_LOG": str(logs / "error.log"),
        "KABUFLOW_DATABASE_URL": args.database_url,
        "KABUFLOW_API_KEYS": key,
        "KABUFLOW_RATE_LIMIT": "1000000/minute",
        "ENABLE_PHASE2": "true",
        "AIRFLOW_API_URL": f"http://127.0.0.1:{_free_port()}",
        "AIRFLOW_API_PASSWORD": "unused-by-final-batches",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--config",
        str(ROOT / "api" / "gunicorn_conf.py"),
        "--chdir",
        str(ROOT),
        "api.wsgi:app",
    ]
    return subprocess.Popen(command, env=env, cwd=ROOT)


def run_wrk(args: argparse.Namespace, url: str, key: str) -> WrkResult:
    """Drive `url` with wrk and return what it measured."""
    command = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-H",
        f"X-API-KEY: {key}",
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> WrkResult:
    """Read requests/s, p50, p99 and error counts from wrk's `--latency` report."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:(.*)", output)
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        p50_ms=_percentile(output, "50%"),
        p99_ms=_percentile(output, "99%"),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else None,
    )


def _percentile(output: str, label: str) -> float:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if found is None:
        raise RuntimeError(f"wrk printed no {label} latency:\n{output}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def _wait_until_ready(url: str, key: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            if httpx.get(url, headers={"X-API-KEY": key}).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit("gunicorn did not answer 200 within 30 s")


def _workers_peak_rss(master_pid: int) -> int:
    """Return the largest peak resident set (VmHWM) among the workers, in bytes."""
    peaks = []
    for worker in psutil.Process(master_pid).children():
        status = Path(f"/proc/{worker.pid}/status").read_text()
        kib = re.search(r"VmHWM:\s+(\d+) kB", status)
        peaks.append(int(kib.group(1)) * 1024)
    return max(peaks)


def _stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _report(args: argparse.Namespace, results: dict) -> None:
    print(
        f"GET /api/bulk/status/<id> of a finished {STOCKS}-stock batch: "
        f"{args.connections} connections, {args.duration} s each, gunicorn "
        f"{args.workers} workers x {args.worker_threads} threads"
    )
    print(f"{'':16}" + "".join(f"{label:>14}" for label in results))
    rows = (
        ("requests/s", lambda r, _: f"{r.requests_per_second:.1f}", "goal >= 500"),
        ("p50 latency ms", lambda r, _: f"{r.p50_ms:.2f}", ""),
        ("p99 latency ms", lambda r, _: f"{r.p99_ms:.2f}", "goal < 50"),
        ("requests", lambda r, _: f"{r.requests}", ""),
        ("non-2xx", lambda r, _: f"{r.non_2xx}", ""),
        ("worker peak MiB", lambda _, rss: f"{rss / 1024 / 1024:.1f}", ""),
    )
    for name, cell, goal in rows:
        cells = "".join(f"{cell(r, rss):>14}" for r, rss in results.values())
        print(f"{name:16}{cells}   {goal}".rstrip())
    for label, (result, _) in results.items():
        if result.socket_errors:
            print(f"socket errors ({label}): {result.socket_errors}")


if __name__ == "__main__":
    sys.exit(main())
