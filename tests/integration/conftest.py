"""Real services for integration tests.

The session starts (or reuses) the local Kafka broker, FerretDB and SMTP sink
with ``failstream infra up``; each test then gets its own topics, database,
consumer groups and SMTP server, so tests never see each other's events.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from failstream.infra import stack
from failstream.kafka_config import ensure_topics
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, SmtpSink, free_port
from tests.integration.throwaway import ThrowawayFerretDB


@pytest.fixture(scope="session")
def infra() -> Iterator[Settings]:
    """Base settings pointing at running services (started here if needed).

    Locally the services stay up between runs (a warm start takes seconds);
    under CI the ones this session started are stopped at the end.
    """
    base = Settings()
    started = []
    if os.environ.get("FAILSTREAM_TEST_USE_RUNNING_SERVICES") != "1":
        before = {svc.name for svc in stack.SERVICES if svc.pid() is not None}
        stack.up(base)
        started = [svc for svc in stack.SERVICES if svc.pid() is not None and svc.name not in before]
    yield base
    if os.environ.get("CI"):
        for svc in started:
            svc.stop()


@pytest.fixture
def settings(infra: Settings, request: pytest.FixtureRequest) -> Settings:
    """Settings isolated to this test: unique topics, database and app id."""
    tag = f"{request.node.name[:30]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
    tag = "".join(c if c.isalnum() or c == "-" else "-" for c in tag)
    isolated = infra.model_copy(
        update={
            "topic_failed_requests": f"t-{tag}-failed-requests",
            "topic_email_events": f"t-{tag}-email-events",
            "topic_alerts": f"t-{tag}-alerts",
            "topic_live_counts": f"t-{tag}-live-counts",
            "topic_dead_letters": f"t-{tag}-dead-letters",
            "mongo_db": f"t_{uuid.uuid4().hex[:12]}",
            "stream_app_id": f"t-{tag}-stream",
            "api_port": free_port(),
            "demo_port": free_port(),
        }
    )
    ensure_topics(isolated)
    return isolated


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "maildir")
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(tmp_path / "logs")
    yield group
    group.stop_all()


@pytest.fixture
def own_db(settings: Settings, tmp_path: Path) -> Iterator[ThrowawayFerretDB]:
    """A FerretDB of the test's own, for tests that stop the database (the shared one never is)."""
    server = ThrowawayFerretDB(settings, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
