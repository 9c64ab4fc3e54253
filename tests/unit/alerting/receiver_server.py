"""A real HTTP server on a free loopback port, in a thread, that receivers post to in tests.

It checks the webhook signature the way docs/receivers.md tells receivers
to (HMAC of ``"<timestamp>." + body``, timestamp within five minutes) and
answers 401 when it does not hold, so a test that sees 2xx deliveries has
proven the signature. Answers can be scripted (500 then 200, say).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from failstream.alerting.receivers.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class ReceiverServer:
    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.script: list[int] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = server._answer(self.headers.get(TIMESTAMP_HEADER), self.headers, body)
                with server._changed:
                    server.received.append(Received(self.path, dict(self.headers.items()), body, status))
                    server._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def _answer(self, timestamp: str | None, headers: Any, body: bytes) -> int:
        if self.secret is not None:
            signature = headers.get(SIGNATURE_HEADER) or ""
            if not verify(self.secret.encode(), timestamp or "", body, signature, int(time.time()), 300):
                return 401
        with self._lock:
            return self.script.pop(0) if self.script else 200

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(
        self, condition: Callable[[list[Received]], bool], timeout_s: float = 10.0
    ) -> list[Received]:
        """Block until ``condition`` holds for what was received (no fixed sleeps)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not condition(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"condition not met; received {len(self.received)} request(s)")
                self._changed.wait(left)
            return list(self.received)


@contextmanager
def receiver_server(secret: str | None = None) -> Iterator[ReceiverServer]:
    server = ReceiverServer(secret)
    server._thread.start()
    try:
        yield server
    finally:
        server._http.shutdown()
        server._http.server_close()
