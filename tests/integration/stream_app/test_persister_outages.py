"""The persister rides out a MongoDB outage, and the worker restarts a persister that dies.

Both run on a FerretDB of the test's own (the shared one is never stopped):
per-IP totals end exact, with no process restarted by hand.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from failstream.events import new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, free_port, wait_until
from tests.integration.stream_app.checks import counts
from tests.integration.stream_app.kafka_io import failure_json, produce
from tests.integration.throwaway import ThrowawayFerretDB

pytestmark = pytest.mark.integration


@pytest.fixture
def db(own_db: ThrowawayFerretDB, settings: Settings) -> Iterator[Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(own_db.settings.mongo_uri.get_secret_value())
    try:
        yield client[settings.mongo_db]
    finally:
        client.close()


def _settings(own_db: ThrowawayFerretDB) -> Settings:
    return own_db.settings.model_copy(
        update={
            "stream_batch_max": 200,
            "stream_persist_batch_max": 200,
            "metrics_stream_port": free_port(),
            "metrics_persister_port": free_port(),
        }
    )


def _send(settings: Settings, ips: int, per_ip: int) -> Counter[str]:
    base = now_ms()
    trace = [(f"10.9.{n // 250}.{n % 250}", base + n * 10 + i) for i in range(per_ip) for n in range(ips)]
    produce(
        settings,
        settings.topic_failed_requests,
        ((ip.encode(), failure_json(new_event_id(), ip, ts)) for ip, ts in trace),
    )
    return Counter(ip for ip, _ in trace)


def _readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    raise AssertionError(f"{name} not exported on :{port}")


def _persister_pid(stream_pid: int) -> int | None:
    for task in Path(f"/proc/{stream_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
                return int(child)
    return None


def test_persister_holds_batches_through_a_mongodb_outage_and_stores_every_failure_once(
    settings: Settings, processes: ProcessGroup, own_db: ThrowawayFerretDB, db: Any
) -> None:
    settings = _settings(own_db)
    stream = processes.start("stream", "stream", settings)
    sent = _send(settings, ips=100, per_ip=3)
    wait_until(lambda: counts(db)["by_ip"] == sent, 90, "the first wave stored")

    own_db.stop()
    sent += _send(settings, ips=100, per_ip=4)  # arrives while the database is away
    port = settings.metrics_persister_port
    wait_until(lambda: _readyz(port)[0] == 503, 60, "the persister's readiness to say MongoDB is down")
    assert "mongodb" in _readyz(port)[1]["down"]
    own_db.start()

    wait_until(lambda: counts(db)["by_ip"] == sent, 120, "per-IP totals after MongoDB came back")
    assert counts(db)["minutes"] == sum(sent.values())
    wait_until(lambda: _readyz(port)[0] == 200, 30, "the persister's readiness back to ready")
    assert stream.poll() is None, "the worker exited"
    # the batched path, which Faust's monitor does not see, is counted in the worker's metrics;
    # detection reads with a group of its own, so it may still be behind the persister here
    wait_until(
        lambda: (
            _metric(settings.metrics_stream_port, "failstream_stream_batched_messages_total")
            >= sum(sent.values())
        ),
        60,
        "the worker's detection to have taken every failure",
    )
    log = processes.log("stream")
    assert log.count("mongodb is down") == 1, log[-3000:]
    assert log.count("mongodb is back") == 1, log[-3000:]


def test_worker_restarts_a_killed_persister_which_catches_up_exactly(
    settings: Settings, processes: ProcessGroup, own_db: ThrowawayFerretDB, db: Any
) -> None:
    settings = _settings(own_db)
    stream = processes.start("stream", "stream", settings)
    wait_until(lambda: _persister_pid(stream.pid) is not None, 60, "the persister child")
    first = _persister_pid(stream.pid)
    assert first is not None
    sent = _send(settings, ips=100, per_ip=3)
    wait_until(lambda: counts(db)["failures"] > 0, 60, "some failures stored")

    os.kill(first, signal.SIGKILL)
    sent += _send(settings, ips=100, per_ip=2)
    wait_until(
        lambda: _persister_pid(stream.pid) not in (None, first), 60, "a new persister started by the worker"
    )
    wait_until(lambda: counts(db)["by_ip"] == sent, 120, "per-IP totals after the restart")
    assert counts(db)["minutes"] == sum(sent.values())
    assert stream.poll() is None, "the worker exited"
    assert "persister exited (code -9); restarting it" in processes.log("stream")
