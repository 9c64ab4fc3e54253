"""Real servers and a real consumer for the producer's integration tests."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
import uvicorn
from confluent_kafka import Consumer

from failstream.kafka_config import confluent_config
from failstream.settings import Settings


class UvicornThread:
    """An ASGI app served over real HTTP by uvicorn, in a thread of the test process."""

    def __init__(self, app: Any, port: int, *, lifespan: str = "off") -> None:
        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)  # type: ignore[arg-type]
        )
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> UvicornThread:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class WsgiThread:
    """A WSGI app served over real HTTP by the standard library's wsgiref server."""

    def __init__(self, app: Callable[..., Any], port: int) -> None:
        self.port = port
        self.server: WSGIServer = make_server("127.0.0.1", port, app, handler_class=_QuietHandler)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> WsgiThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def read_events(
    settings: Settings, topic: str, expect: int, timeout_s: float = 30.0
) -> list[tuple[bytes | None, dict]]:
    """(key, decoded value) of every message on ``topic``, waiting for at least ``expect``.

    Keeps reading a moment past ``expect`` so duplicates would show up too.
    """
    consumer = Consumer(
        {
            **confluent_config(settings),
            "group.id": f"t-read-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[tuple[bytes | None, dict]] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                found.append((message.key(), orjson.loads(message.value() or b"{}")))
            if len(found) >= expect and settle_until is None:
                settle_until = time.monotonic() + 2.0
            if settle_until is not None and time.monotonic() >= settle_until:
                break
    finally:
        consumer.close()
    return found
