"""Fork-safe capture: gunicorn --preload with three workers, every worker's failures reach Kafka.

The app (``gunicorn_app``) is imported once in the master, which also
captures a failure of its own first, so the capture thread, the Kafka client
and the spool slot exist before gunicorn forks. Every worker must start its
own; events of all three arrive while they serve, and the ones still queued
when gunicorn is stopped arrive too (flushed at exit).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from failstream.settings import Settings
from tests.integration.producer.gunicorn_app import MASTER_REQUEST_ID
from tests.integration.producer.support import read_events
from tests.integration.services import free_port

pytestmark = pytest.mark.integration

WORKERS = 3
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def gunicorn(settings: Settings, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {
        **os.environ,
        "FAILSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "FAILSTREAM_TOPIC_FAILED_REQUESTS": settings.topic_failed_requests,
        "FAILSTREAM_PRODUCER_SPOOL_DIR": str(tmp_path / "spool"),
        "FAILSTREAM_SERVICE_NAME": "forked",
    }
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [gunicorn_bin, "--preload", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "20",
         "tests.integration.producer.gunicorn_app:application"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_until_serving(proc, port)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, (proc.stdout.read() if proc.stdout else b"").decode(errors="replace")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start serving")


def _fail_once(port: int, slow: bool) -> tuple[str, str]:
    """(request id, pid of the worker that answered) of one failed request."""
    request_id = uuid.uuid4().hex
    url = f"http://127.0.0.1:{port}/orders/{uuid.uuid4().int % 1000}" + ("?slow=1" if slow else "")
    response = httpx.get(url, headers={"X-Request-ID": request_id}, timeout=10)
    assert response.status_code == 403
    return request_id, response.headers["X-Worker-Pid"]


def _fail_on_every_worker(port: int) -> dict[str, str]:
    """Slow failed requests, a worker's worth at a time, until every worker answered some."""
    answered: dict[str, str] = {}
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(WORKERS) as pool:
        while len(set(answered.values())) < WORKERS:
            assert time.monotonic() < deadline, f"only workers {set(answered.values())} answered"
            answered.update(pool.map(lambda _: _fail_once(port, slow=True), range(WORKERS)))
    return answered


def test_every_preforked_workers_failures_reach_kafka_and_the_last_ones_are_flushed_at_exit(
    settings: Settings, gunicorn: tuple[subprocess.Popen[bytes], int]
) -> None:
    proc, port = gunicorn
    answered = _fail_on_every_worker(port)
    # the /healthz probes failed too (403): count them out by request id
    found = read_events(settings, settings.topic_failed_requests, expect=len(answered) + 1, timeout_s=30)
    arrived = {event["request_id"] for _, event in found}
    assert MASTER_REQUEST_ID in arrived
    missing = {rid: pid for rid, pid in answered.items() if rid not in arrived}
    assert not missing, f"events missing from workers {sorted(set(missing.values()))}"
    assert len(set(answered.values())) == WORKERS
    assert {event["route"] for _, event in found} == {"/orders/<int:order_id>"}

    # the last failures, then a graceful stop at once: they are still queued, and exit flushes them
    last = dict(_fail_once(port, slow=False) for _ in range(6))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    found = read_events(settings, settings.topic_failed_requests, expect=len(found) + len(last), timeout_s=30)
    arrived = {event["request_id"] for _, event in found}
    assert set(last) <= arrived, f"{len(set(last) - arrived)} of {len(last)} lost at exit"
    request_ids = [event["request_id"] for _, event in found if event["request_id"]]
    assert len(request_ids) == len(set(request_ids)), "an event arrived twice"
