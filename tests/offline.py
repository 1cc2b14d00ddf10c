"""Keep the test session on this machine (importable anywhere; `conftest` installs it).

Two guards, because kabuflow's clients do not all go through Python's sockets:

- yfinance (through curl_cffi) and psycopg (through libpq) open their connections in
  C. Yahoo's traffic is held by kabuflow's own seam instead: `KABUFLOW_YAHOO_URL`
  defaults to a closed local port for the whole session, so a source that no test
  pointed at a replay server reaches nothing, and the session of
  `kabuflow.yahoo_session` refuses every host but that base URL.
- Everything on Python's sockets (httpx, the standard library) may connect to the
  loopback addresses and Unix sockets only; anything else raises `OffSiteError`.

Processes the tests start (Airflow, the dag.test worker, the demo) get a replay
server's URL in their environment; these guards do not reach into them.
"""

from __future__ import annotations

import ipaddress
import os
import socket

# Port 9 ("discard") on loopback: nothing listens, so a stray request fails at once.
OFFLINE_YAHOO_URL = "http://127.0.0.1:9"
_LOCAL_NAMES = {"localhost"}


class OffSiteError(ConnectionRefusedError):
    """A test tried to connect beyond this machine."""


def is_local(address) -> bool:
    """Tell whether a socket address stays on this machine."""
    if isinstance(address, str | bytes):
        return True  # a Unix socket path
    host = address[0]
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _guarded_connect(self, address):
    if not is_local(address):
        raise OffSiteError(f"tests stay on this machine: refused {address!r}")
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    if not is_local(address):
        raise OffSiteError(f"tests stay on this machine: refused {address!r}")
    return _connect_ex(self, address)


def install() -> None:
    """Install both guards in this process (idempotent)."""
    os.environ.setdefault("KABUFLOW_YAHOO_URL", OFFLINE_YAHOO_URL)
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
