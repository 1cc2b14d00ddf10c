"""gunicorn settings for the API; each can be overridden from the environment.

- `KABUFLOW_API_BIND` (`127.0.0.1:5000`): address to listen on.
- `KABUFLOW_API_WORKERS` (`2`): worker processes, one per core.
- `KABUFLOW_API_THREADS` (`4`): threads per worker; a status call mostly waits on
  the database or Airflow, so a few threads keep a core busy.

The access log names method, path (never the query string) and status, and no request
header: an API key sent in the query string (refused anyway) or in `X-API-KEY` never
reaches a log line. Keep it that way when changing `access_log_format`.
"""

import os

from kabuflow.settings import SettingsError


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(name, f"expected a whole number of at least 1, got {raw!r}")
    return int(raw)


bind = os.environ.get("KABUFLOW_API_BIND", "127.0.0.1:5000")
workers = _count("KABUFLOW_API_WORKERS", 2)
worker_class = os.environ.get("KABUFLOW_API_WORKER_CLASS", "gthread")
threads = _count("KABUFLOW_API_THREADS", 4)
keepalive = 5
timeout = 60
graceful_timeout = 20

accesslog = os.environ.get("KABUFLOW_API_ACCESS_LOG", "-")
errorlog = os.environ.get("KABUFLOW_API_ERROR_LOG", "-")
# %(U)s is the path without its query string; %(r)s would log the query too.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'

# Refuse oversized request lines and headers before the app sees them.
limit_request_line = 8190
limit_request_fields = 50
limit_request_field_size = 8190
