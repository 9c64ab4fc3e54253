"""Failed request -> alert email, end to end, under 500 failures/s of background traffic.

Runs the real ``failstream stream``, ``alerting`` and ``demo-app`` processes
on the local Kafka broker and FerretDB, with an aiosmtpd server in this
process noting when each alert's DATA is accepted. Background: FailedRequest
events produced straight onto ``failed-requests`` at ``--background`` per
second, three per IP so none of them crosses the threshold (they load
Kafka, the stream app and FerretDB, but make no emails). Probes: every
``--every`` seconds a fresh loopback IP sends the threshold's worth of bad
tokens over HTTP to the demo service; latency is from the answer to the
last of them to the SMTP accept of its alert. group_wait 0.

    .venv/bin/python -m benchmarks.alerting_end_to_end --seconds 60 --background 500
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from confluent_kafka import Producer
from pymongo import MongoClient

from benchmarks.smtp_timing import TimingHandler, free_port, pct
from failstream.events import failed_request_json, new_event_id, now_ms
from failstream.kafka_config import confluent_config, ensure_topics
from failstream.settings import Settings


def background(settings: Settings, rate: float, stop: threading.Event, counter: list[int]) -> None:
    producer = Producer({**confluent_config(settings), "linger.ms": 5})
    interval = 1.0 / rate
    start = time.perf_counter()
    i = 0
    while not stop.is_set():
        target = start + i * interval
        pause = target - time.perf_counter()
        if pause > 0:
            time.sleep(min(pause, 0.005))
            continue
        ip = f"10.{200 + i // 3 // 65536 % 50}.{i // 3 // 256 % 256}.{i // 3 % 256}"
        payload = failed_request_json(
            event_id=new_event_id(),
            ts=now_ms(),
            service="background",
            ip=ip,
            method="POST",
            route="/api/submit",
            status=401,
            reason="invalid_token",
            user_agent="bench",
            request_id="",
        )
        producer.produce(settings.topic_failed_requests, key=ip.encode(), value=payload)
        producer.poll(0)
        i += 1
    producer.flush(10)
    counter.append(i)


def probe(demo_url: str, ip: str, n: int) -> float:
    transport = httpx.HTTPTransport(local_address=ip)
    with httpx.Client(transport=transport, timeout=5) as client:
        for i in range(n):
            status = client.post(f"{demo_url}/api/submit", headers={"Authorization": f"Bearer bad-{i}"})
            assert status.status_code == 401, status.status_code
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--background", type=float, default=500, help="background failures per second")
    parser.add_argument("--every", type=float, default=3, help="seconds between probes")
    args = parser.parse_args()

    tag = f"bench-e2e-{uuid.uuid4().hex[:8]}"
    base = Settings()
    settings = base.model_copy(
        update={
            "topic_alerts": f"{tag}-alerts",
            "topic_email_events": f"{tag}-email-events",
            "topic_failed_requests": f"{tag}-failed-requests",
            "topic_live_counts": f"{tag}-live-counts",
            "topic_dead_letters": f"{tag}-dead-letters",
            "mongo_db": tag.replace("-", "_"),
            "stream_app_id": f"{tag}-stream",
            "smtp_port": free_port(),
            "demo_port": free_port(),
            "group_wait_s": 0.0,
            "rate_limit_global": "100000/hour",
        }
    )
    ensure_topics(settings)
    handler = TimingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=settings.smtp_port)
    controller.start()
    logs = Path(tempfile.gettempdir()) / tag
    logs.mkdir()
    procs = []
    for name in ("stream", "alerting", "demo-app"):
        with (logs / f"{name}.log").open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "failstream.cli", name],
                    env={**os.environ, **settings.as_env()},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    demo_url = f"http://127.0.0.1:{settings.demo_port}"
    threshold = settings.rule_ip_threshold
    stop = threading.Event()
    sent: dict[str, float] = {}
    produced: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{demo_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"demo service did not start; logs in {logs}")
            time.sleep(0.3)
        probe(demo_url, "127.9.0.1", threshold)  # warm-up: wait for the whole path to answer
        deadline = time.monotonic() + 120
        while "127.9.0.1" not in handler.accepted:
            if time.monotonic() > deadline:
                raise SystemExit(f"no warm-up email; logs in {logs}")
            time.sleep(0.2)
        feeder = threading.Thread(target=background, args=(settings, args.background, stop, produced))
        feeder.start()
        time.sleep(min(5.0, args.seconds / 4))  # let the background load settle in
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < args.seconds:
            ip = f"127.9.{1 + i // 250}.{i % 250 + 2}"
            sent[ip] = probe(demo_url, ip, threshold)
            i += 1
            time.sleep(max(0.0, started + i * args.every - time.monotonic()))
        stop.set()
        feeder.join()
        deadline = time.monotonic() + 30
        while any(ip not in handler.accepted for ip in sent) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        controller.stop()
        MongoClient(settings.mongo_uri.get_secret_value()).drop_database(settings.mongo_db)

    latencies = [(handler.accepted[ip] - t) * 1000 for ip, t in sent.items() if ip in handler.accepted]
    missing = [ip for ip in sent if ip not in handler.accepted]
    achieved = produced[0] / (args.seconds + min(5.0, args.seconds / 4)) if produced else 0.0
    print(f"probes {len(sent)}, emails {len(latencies)}, missing {len(missing)}")
    print(
        f"background: {produced[0] if produced else 0} failures, ~{achieved:.0f}/s "
        f"(asked {args.background}/s)"
    )
    if latencies:
        print(
            f"request -> email ms: p50 {pct(latencies, 50):.0f}  p95 {pct(latencies, 95):.0f}  "
            f"p99 {pct(latencies, 99):.0f}  max {max(latencies):.0f}"
        )
    print(f"process logs: {logs}")
    if missing:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
