"""What the repartition hop adds: a prefix alert's latency beside an address's, in one run.

    .venv/bin/python -m benchmarks.prefix_alert_latency [--seconds 40] [--rate 200] [--probes-per-s 2]

A background producer sends ``--rate`` failures/s from 100 IPv6 addresses in
100 /64s (so forwarding runs all the time; MongoDB persistence on, as in
production). Probes alternate: an *address* probe is a fresh IPv6 address
sending 5 failures at once (``ip-failures``); a *prefix* probe is a fresh /64
whose 10 new addresses send one failure each (``prefix-failures``, through
the repartition topic). Latency runs from producing the failure that fires
to the alert's arrival at a consumer of ``alerts``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.stream_common import (
    consumer,
    drop_topics,
    failure,
    isolated,
    producer,
    start_worker,
    stop_worker,
    wait,
)
from failstream.events import Alert, now_ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--probes-per-s", type=float, default=2)
    args = ap.parse_args()
    settings = isolated("prefix-latency")
    threshold_ip, threshold_prefix = settings.rule_ip_threshold, settings.rule_prefix_threshold
    log = Path(tempfile.mkdtemp(prefix="prefix-latency-")) / "worker.log"
    worker = start_worker(settings, log)
    arrived: dict[str, float] = {}
    stop = threading.Event()

    def read_alerts() -> None:
        c = consumer(settings, settings.topic_alerts)
        while not stop.is_set():
            msg = c.poll(0.05)
            if msg is not None and not msg.error():
                arrived.setdefault(Alert.model_validate_json(msg.value() or b"").subject, time.time())
        c.close()

    reader = threading.Thread(target=read_alerts, daemon=True)
    reader.start()
    rng = random.Random(9)
    p = producer(settings)

    def send(ip: str) -> None:
        p.produce(settings.topic_failed_requests, key=ip.encode(), value=failure(ip, now_ms(), rng))

    for i in range(threshold_prefix):  # warm-up: the worker is up and its repartition path works
        send(f"2001:db8:ffff:1::{i + 1:x}")
    p.flush(10)
    wait(lambda: "2001:db8:ffff:1::/64" in arrived, 90)

    sent: dict[str, tuple[str, float]] = {}  # subject -> (kind, when its firing failure was produced)
    start = time.time()
    next_bg, next_probe, probe = start, start, 0
    while time.time() - start < args.seconds:
        now = time.time()
        if now >= next_bg:
            send(f"2001:db8:eeee:{rng.randrange(100):x}::1")
            next_bg += 1 / args.rate
        if now >= next_probe:
            probe += 1
            if probe % 2:
                ip = f"2001:db8:aaaa:{probe:x}::1"
                for _ in range(threshold_ip):
                    send(ip)
                sent[ip] = ("address", time.time())
            else:
                for i in range(threshold_prefix):
                    send(f"2001:db8:bbbb:{probe:x}::{i + 1:x}")
                sent[f"2001:db8:bbbb:{probe:x}::/64"] = ("prefix", time.time())
            next_probe += 1 / args.probes_per_s
        p.poll(0)
        time.sleep(max(0.0, min(next_bg, next_probe) - time.time()))
    p.flush(10)
    try:
        wait(lambda: all(subject in arrived for subject in sent), 30)
    except TimeoutError:  # report what arrived; the missing ones are counted below
        pass
    stop.set()
    reader.join(5)
    stop_worker(worker)
    drop_topics(settings, settings.topic_failed_requests.removesuffix("-failed-requests"))
    print(f"background {args.rate} ev/s over 100 /64s for {args.seconds:.0f}s, probes {len(sent)}")
    for kind in ("address", "prefix"):
        ms = sorted((arrived[s] - t) * 1000 for s, (k, t) in sent.items() if k == kind and s in arrived)
        missing = sum(1 for s, (k, _) in sent.items() if k == kind and s not in arrived)
        q = statistics.quantiles(ms, n=100, method="inclusive")
        print(
            f"{kind:8s} alerts: {len(ms)} (missing {missing}) latency ms: "
            f"p50 {q[49]:.0f}  p90 {q[89]:.0f}  p99 {q[98]:.0f}  max {ms[-1]:.0f}"
        )


if __name__ == "__main__":
    main()
