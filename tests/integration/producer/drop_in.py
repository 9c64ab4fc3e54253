"""A host app in a throwaway venv, served over a real socket, failing on purpose; its events read from Kafka.

Every host (``hosts/``) answers the same requests the same way, so one
check fits all: three failures captured (401 without a token, 401 with a
token and a W3C ``traceparent``, a 500 from an exception), a 503 sampled
out (``FAILSTREAM_CAPTURE_SAMPLE_RATES=503=0``), a 404 not a failure by
default, and every event scrubbed by the host's ``before_send``.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from failstream.settings import Settings
from tests.integration.producer.support import read_events
from tests.integration.producer.venvs import ThrowawayVenv
from tests.integration.services import free_port, wait_until

HOSTS = Path(__file__).resolve().parent / "hosts"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SERVICE = "drop-in"


def _env(settings: Settings, spool: Path) -> dict[str, str]:
    """Only what a host's deployment would set: Kafka, the topic, the service, sampling; no PYTHONPATH."""
    kafka = {k: v for k, v in settings.as_env().items() if k.startswith("FAILSTREAM_KAFKA_")}
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(spool.parent),
        **kafka,
        "FAILSTREAM_TOPIC_FAILED_REQUESTS": settings.topic_failed_requests,
        "FAILSTREAM_SERVICE_NAME": SERVICE,
        "FAILSTREAM_PRODUCER_SPOOL_DIR": str(spool),
        "FAILSTREAM_CAPTURE_SAMPLE_RATES": "503=0",
    }


def _answers(port: int, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the host exited with {process.returncode}:\n{log.read_text(errors='replace')}")
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serving(
    venv: ThrowawayVenv, host: str, args: tuple[str, ...], settings: Settings, workdir: Path
) -> Iterator[int]:
    """Run ``hosts/<host>`` with the venv's interpreter on a free port until the block ends."""
    port = free_port()
    log = workdir / f"{host}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(venv.python), str(HOSTS / host), *args, str(port)],
            cwd=workdir,
            env=_env(settings, workdir / "spool"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: _answers(port, process, log), 60, f"{host} to serve")
            yield port
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


#: request id -> (status, reason, trace id) of each event the requests must make
Expected = dict[str, tuple[int, str, str | None]]


def fail_on_purpose(port: int) -> Expected:
    """Send the requests; what the broker must then hold."""
    base = f"http://127.0.0.1:{port}"
    run = uuid.uuid4().hex[:8]
    expected: Expected = {}
    with httpx.Client(base_url=base, timeout=10) as client:

        def get(path: str, status: int, **headers: str) -> str:
            request_id = f"{run}-{len(expected)}-{path}"
            response = client.get(
                path, headers={"X-Request-ID": request_id, "User-Agent": "secret-agent", **headers}
            )
            assert response.status_code == status, (path, response.status_code, response.text[:200])
            return request_id

        get("/busy", 503)  # first: had it been sent, it would be read before the others
        get("/nowhere/1", 404)
        expected[get("/orders/7", 401)] = (401, "missing_token", None)
        traced = get(
            "/orders/8", 401, Authorization="Bearer wrong", traceparent=f"00-{TRACE}-00f067aa0ba902b7-01"
        )
        expected[traced] = (401, "invalid_token", TRACE)
        expected[get("/orders/0", 500)] = (500, "server_error", None)
    return expected


def assert_captured(settings: Settings, expected: Expected, route: str) -> None:
    """The broker holds exactly the expected events, with the framework's route template."""
    events = [event for _, event in read_events(settings, settings.topic_failed_requests, len(expected))]
    by_id = {event["request_id"]: event for event in events}
    assert len(events) == len(expected) and set(by_id) == set(expected), events
    for request_id, (status, reason, trace_id) in expected.items():
        event = by_id[request_id]
        assert (event["route"], event["status"], event["reason"], event.get("trace_id")) == (
            route,
            status,
            reason,
            trace_id,
        ), event
        assert (event["service"], event["ip"], event["user_agent"]) == (SERVICE, "127.0.0.1", "scrubbed"), (
            event
        )
