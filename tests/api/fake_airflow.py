"""A stand-in for an Airflow api-server that fails, for the API's error paths only.

It hands out a token (so the client gets as far as the call under test), answers every
other request with the status a test chose, and records what it was asked. The happy
paths run against the real Airflow in `test_api_airflow.py`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A token whose payload carries an `exp` far in the future ({"exp": 4102444800}).
TOKEN = "e30.eyJleHAiOiA0MTAyNDQ0ODAwfQ.c2ln"


class FakeAirflow:
    """An HTTP server on 127.0.0.1 answering `status` to all but `/auth/token`."""

    def __init__(self, status: int = 500, detail: str = "fake Airflow failure"):
        self.status = status
        self.detail = detail
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[dict | None] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def calls(self) -> list[tuple[str, str]]:
        """Requests other than token requests, as (method, path)."""
        return [call for call in self.requests if call[1] != "/auth/token"]

    def __enter__(self) -> FakeAirflow:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._answer()

            def do_POST(self):
                self._answer()

            def do_PATCH(self):
                self._answer()

            def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                fake.requests.append((self.command, self.path))
                fake.bodies.append(json.loads(data) if data else None)
                if self.path == "/auth/token":
                    self._send(201, {"access_token": TOKEN})
                else:
                    self._send(fake.status, {"detail": fake.detail})

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
