"""Real services for integration tests.

The session uses the Kafka and MongoDB given by environment variables; else,
where a Docker engine answers, starts them in containers (testcontainers);
else starts (or reuses) the local Kafka broker and FerretDB with
``failstream infra up`` (see ``service_choice``). The SMTP sink is always the
local one. Each test then gets its own topics, database, consumer groups and
SMTP server, so tests never see each other's events.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from failstream.infra import smtp_sink as infra_smtp_sink
from failstream.infra import stack
from failstream.infra.process import ManagedProcess
from failstream.kafka_config import confluent_config, ensure_topics
from failstream.settings import Settings
from tests.integration.service_choice import choose_services, docker_engine_answers
from tests.integration.services import ProcessGroup, SmtpSink, free_port
from tests.integration.throwaway import ThrowawayFerretDB


@pytest.fixture(scope="session")
def infra() -> Iterator[Settings]:
    """Base settings pointing at running services (started here if needed).

    Locally the services stay up between runs (a warm start takes seconds);
    under CI the ones this session started are stopped at the end. Containers
    live for the session only.
    """
    base = Settings()
    source = choose_services(os.environ, lambda: docker_engine_answers(os.environ))
    if source == "env":
        yield base
        return
    if source == "containers":
        from tests.integration.containers import kafka_and_mongodb

        with kafka_and_mongodb(base) as in_containers:
            started = _started_by(lambda: infra_smtp_sink.up(in_containers))
            ensure_topics(in_containers)
            try:
                yield in_containers
            finally:
                _stop_under_ci(started)
        return
    started = _started_by(lambda: stack.up(base))
    yield base
    _stop_under_ci(started)


def _started_by(start: Callable[[], object]) -> list[ManagedProcess]:
    before = {svc.name for svc in stack.SERVICES if svc.pid() is not None}
    start()
    return [svc for svc in stack.SERVICES if svc.pid() is not None and svc.name not in before]


def _stop_under_ci(started: list[ManagedProcess]) -> None:
    if os.environ.get("CI"):
        for svc in started:
            svc.stop()


@pytest.fixture
def settings(infra: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings isolated to this test: unique topics, database and app id; its topics are deleted after it.

    Left behind, every run's topics (a few thousand partitions) stay on the
    local broker, which then ran out of file handles after eight full runs.
    """
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
    yield isolated
    _delete_topics(isolated, f"t-{tag}-")


def _delete_topics(settings: Settings, prefix: str) -> None:
    """Every topic named with this test's prefix, Faust's own included; a failure only says so."""
    admin = AdminClient(confluent_config(settings))
    try:
        names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in admin.delete_topics(names, operation_timeout=30).values() if names else ():
            future.result()
    except KafkaException as exc:  # the broker a fault test stopped, say: the test's result stands
        logging.getLogger(__name__).warning("topics %s* not deleted: %s", prefix, exc)


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
