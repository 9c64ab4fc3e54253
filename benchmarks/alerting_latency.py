"""Alert on ``alerts`` -> message accepted by the local SMTP server, with group_wait 0.

Runs the real ``failstream alerting`` process against the local Kafka broker
and FerretDB, and an aiosmtpd server in this process that notes when each
message's DATA is accepted. Alerts (distinct subjects, so no rate limit or
grouping applies) are produced at a steady pace; latency is produce call ->
SMTP accept, both on this machine's clock.

    .venv/bin/python -m benchmarks.alerting_latency --alerts 300 --rate 20
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from confluent_kafka import Producer
from pymongo import MongoClient

from benchmarks.smtp_timing import TimingHandler, free_port, pct
from failstream.events import Alert, dumps, new_event_id, now_ms
from failstream.kafka_config import confluent_config, ensure_topics
from failstream.settings import Settings


def make_alert(ip: str) -> Alert:
    now = now_ms()
    return Alert(
        event_id=new_event_id(),
        ts=now,
        alert_key=f"ip-failures:{ip}:{now}",
        rule="ip-failures",
        subject=ip,
        episode_start=now,
        count=5,
        threshold=5,
        window_s=600,
        first_seen=now - 1000,
        last_seen=now,
        reasons={"invalid_token": 5},
        routes={"/api/submit": 5},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="alerts per second")
    parser.add_argument("--warmup", type=int, default=10, help="first alerts left out of the figures")
    args = parser.parse_args()

    tag = f"bench-alerting-{uuid.uuid4().hex[:8]}"
    smtp_port = free_port()
    settings = Settings().model_copy(
        update={
            "topic_alerts": f"{tag}-alerts",
            "topic_email_events": f"{tag}-email-events",
            "topic_failed_requests": f"{tag}-failed-requests",
            "topic_live_counts": f"{tag}-live-counts",
            "topic_dead_letters": f"{tag}-dead-letters",
            "mongo_db": tag.replace("-", "_"),
            "smtp_port": smtp_port,
            "group_wait_s": 0.0,
            "rate_limit_per_subject": "10/minute",
            "rate_limit_global": "100000/hour",
        }
    )
    ensure_topics(settings)
    handler = TimingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    log = Path(tempfile.gettempdir()) / f"{tag}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "failstream.cli", "alerting"],
            env={**os.environ, **settings.as_env()},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    producer = Producer({**confluent_config(settings), "linger.ms": 0})
    sent: dict[str, float] = {}
    try:
        # warm-up alert: wait until the process has joined its group and sends
        producer.produce(settings.topic_alerts, key=b"10.255.255.1", value=dumps(make_alert("10.255.255.1")))
        producer.flush(10)
        deadline = time.monotonic() + 60
        while "10.255.255.1" not in handler.accepted:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"alerting never sent the warm-up alert; see {log}")
            time.sleep(0.1)
        interval = 1.0 / args.rate
        start = time.perf_counter()
        for i in range(args.alerts):
            ip = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
            target = start + i * interval
            while (pause := target - time.perf_counter()) > 0:
                time.sleep(min(pause, 0.01))
            payload = dumps(make_alert(ip))
            sent[ip] = time.perf_counter()
            producer.produce(settings.topic_alerts, key=ip.encode(), value=payload)
            producer.poll(0)
        producer.flush(10)
        deadline = time.monotonic() + 60
        while len(handler.accepted) < args.alerts + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        controller.stop()
        MongoClient(settings.mongo_uri.get_secret_value()).drop_database(settings.mongo_db)

    ips = list(sent)[args.warmup :]
    lost = [ip for ip in ips if ip not in handler.accepted]
    latencies = [(handler.accepted[ip] - sent[ip]) * 1000 for ip in ips if ip in handler.accepted]
    print(f"alerts {len(ips)} (after {args.warmup} warm-up) at {args.rate}/s, group_wait 0")
    print(f"delivered {len(latencies)}, missing {len(lost)}")
    if latencies:
        print(
            f"latency ms: p50 {pct(latencies, 50):.1f}  p95 {pct(latencies, 95):.1f}  "
            f"p99 {pct(latencies, 99):.1f}  max {max(latencies):.1f}  mean {statistics.mean(latencies):.1f}"
        )
    if lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
