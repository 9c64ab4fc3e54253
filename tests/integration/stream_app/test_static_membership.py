"""A worker restarted with its instance id gets its partitions back at once, not after its session."""

from __future__ import annotations

import signal
import time
import uuid
from typing import Any

import pytest

from failstream.events import new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import counts
from tests.integration.stream_app.kafka_io import failure_json, produce

pytestmark = pytest.mark.integration

#: Long enough that a restart waiting out the dead member's session would be plain to see.
SESSION_S = 45


def _failures(settings: Settings, first: int, n: int) -> None:
    ts = now_ms()
    produce(
        settings,
        settings.topic_failed_requests,
        (
            (f"10.77.0.{i % 50}".encode(), failure_json(new_event_id(), f"10.77.0.{i % 50}", ts + i))
            for i in range(first, first + n)
        ),
    )


def test_a_worker_restarted_with_its_instance_id_resumes_before_its_old_session_expires(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    settings = settings.model_copy(
        update={"stream_session_timeout_s": SESSION_S, "stream_instance_id": f"it-{uuid.uuid4().hex[:8]}"}
    )
    processes.start("stream", "stream", settings)
    _failures(settings, 0, 200)
    wait_until(lambda: counts(db)["failures"] == 200, 90, "the first failures stored")
    wait_until(lambda: "Worker ready" in processes.log("stream"), 30, "the worker ready")
    processes.kill("stream", signal.SIGKILL)

    _failures(settings, 200, 200)
    restarted_at = time.monotonic()
    processes.start("stream-restarted", "stream", settings)
    wait_until(lambda: counts(db)["failures"] == 400, SESSION_S + 30, "the failures sent after the kill")
    stored_s = time.monotonic() - restarted_at
    wait_until(lambda: "Worker ready" in processes.log("stream-restarted"), SESSION_S + 30, "worker ready")
    ready_s = time.monotonic() - restarted_at
    print(f"\nrestart -> persister stored the backlog {stored_s:.1f} s, worker ready {ready_s:.1f} s")
    # a dynamic member would wait for the coordinator to expel the dead one: SESSION_S at least
    assert stored_s < SESSION_S / 2 and ready_s < SESSION_S / 2, (stored_s, ready_s)
