"""Run the API for real (uvicorn on a free port) and seed MongoDB with the writers' own code."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from pymongo import monitoring

from failstream.api.app import create_app
from failstream.events import FailedRequest, new_event_id
from failstream.settings import Settings
from failstream.stream_app.mongo.client import connect, ensure_indexes
from failstream.stream_app.mongo.failures import Read, persist_failures

REASONS = ("invalid_token", "missing_token", "rate_limited", "forbidden")
STATUS_OF = {"invalid_token": 401, "missing_token": 401, "rate_limited": 429, "forbidden": 403}


@contextmanager
def running_api(settings: Settings) -> Iterator[str]:
    """The API app served by a real uvicorn in a thread; yields its base URL."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=settings.api_port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.api_port}"
    finally:
        server.should_exit = True
        thread.join(30)


def failure(ts: int, ip: str, i: int, service: str = "demo") -> FailedRequest:
    reason = REASONS[i % len(REASONS)]
    return FailedRequest(
        event_id=new_event_id(),
        ts=ts,
        service=service,
        ip=ip,
        method="POST",
        route="/api/submit",
        status=STATUS_OF[reason],
        reason=reason,  # type: ignore[arg-type]
        user_agent="pytest",
    )


async def _persist(settings: Settings, events: list[FailedRequest], offset0: int) -> None:
    db = connect(settings)
    try:
        await ensure_indexes(db)
        reads = [Read(e, partition=0, offset=offset0 + i) for i, e in enumerate(events)]
        for start in range(0, len(reads), 1000):
            await persist_failures(db, reads[start : start + 1000])
    finally:
        await db.client.close()


def persist(settings: Settings, events: list[FailedRequest], offset0: int = 0) -> None:
    """Store failures exactly as the stream worker does (failures, ip_stats, minute_counts)."""
    asyncio.run(_persist(settings, events, offset0))


class Finds(monitoring.CommandListener):
    """The filter of every ``find`` on ``failures`` a client sent: what a read asked the server for."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == "failures":
            self.filters.append(dict(event.command.get("filter", {})))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def read_headers(settings: Settings) -> dict[str, Any]:
    return {"X-API-Key": settings.api_read_keys[0].get_secret_value()}


def admin_headers(settings: Settings) -> dict[str, Any]:
    return {"X-API-Key": settings.api_admin_keys[0].get_secret_value()}


def get(base: str, path: str, settings: Settings, **params: Any) -> httpx.Response:
    return httpx.get(f"{base}{path}", params=params, headers=read_headers(settings), timeout=30)
