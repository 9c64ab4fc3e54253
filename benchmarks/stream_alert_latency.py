"""Failure event produced -> its alert on ``alerts``: p50/p99 under background load.

    .venv/bin/python -m benchmarks.stream_alert_latency [--seconds 40] [--rate 500] [--probes-per-s 4]

A background producer sends ``--rate`` failures/s from a pool of 100 IPs
(MongoDB persistence on, as in production). Every probe is a fresh IP that
sends 5 failures at once; its latency is from producing the 5th (the one
that fires) to the alert's arrival at a consumer of ``alerts``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.stream_common import consumer, failure, isolated, producer, start_worker, stop_worker
from failstream.events import Alert, now_ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--rate", type=int, default=500)
    ap.add_argument("--probes-per-s", type=float, default=4)
    args = ap.parse_args()
    settings = isolated("latency")
    log = Path(tempfile.mkdtemp(prefix="stream-latency-")) / "worker.log"
    worker = start_worker(settings, log)
    arrived: dict[str, float] = {}
    stop = threading.Event()

    def read_alerts() -> None:
        c = consumer(settings, settings.topic_alerts)
        while not stop.is_set():
            msg = c.poll(0.05)
            if msg is not None and not msg.error():
                alert = Alert.model_validate_json(msg.value())
                arrived.setdefault(alert.subject, time.time())
        c.close()

    reader = threading.Thread(target=read_alerts, daemon=True)
    reader.start()
    rng = random.Random(9)
    p = producer(settings)
    # warm-up: wait until the worker is up and has fired for a first probe
    p.produce(settings.topic_failed_requests, key=b"10.249.0.1", value=failure("10.249.0.1", now_ms(), rng))
    for _ in range(4):
        p.produce(
            settings.topic_failed_requests, key=b"10.249.0.1", value=failure("10.249.0.1", now_ms(), rng)
        )
    p.flush(10)
    deadline = time.time() + 60
    while "10.249.0.1" not in arrived and time.time() < deadline:
        time.sleep(0.1)

    sent: dict[str, float] = {}
    start = time.time()
    next_bg, next_probe, probe = start, start, 0
    while time.time() - start < args.seconds:
        now = time.time()
        if now >= next_bg:
            ip = f"10.200.0.{rng.randrange(100)}"
            p.produce(settings.topic_failed_requests, key=ip.encode(), value=failure(ip, now_ms(), rng))
            next_bg += 1 / args.rate
        if now >= next_probe:
            probe += 1
            ip = f"10.250.{probe // 256}.{probe % 256}"
            for _ in range(5):
                p.produce(settings.topic_failed_requests, key=ip.encode(), value=failure(ip, now_ms(), rng))
            sent[ip] = time.time()
            next_probe += 1 / args.probes_per_s
        p.poll(0)
        time.sleep(max(0.0, min(next_bg, next_probe) - time.time()))
    p.flush(10)
    time.sleep(3)
    stop.set()
    reader.join(5)
    stop_worker(worker)
    latencies = sorted((arrived[ip] - t) * 1000 for ip, t in sent.items() if ip in arrived)
    missing = len(sent) - len(latencies)
    q = statistics.quantiles(latencies, n=100)
    print(f"background {args.rate} ev/s for {args.seconds:.0f}s, probes {len(sent)}, missing {missing}")
    print(f"alert latency ms: p50 {q[49]:.0f}  p90 {q[89]:.0f}  p99 {q[98]:.0f}  max {latencies[-1]:.0f}")
    worst = sorted(((arrived[ip] - t) * 1000, t - start) for ip, t in sent.items() if ip in arrived)[-5:]
    print("slowest (ms, sent at s):", [(round(ms), round(at, 1)) for ms, at in worst])


if __name__ == "__main__":
    main()
