"""Threshold-crossing failure -> webhook receiver, and -> refused by a running middleware.

Under ``--background`` failures/s (the load of ``benchmarks.alerting_end_to_end``:
FailedRequest events produced straight onto ``failed-requests``, three per
IP, so none fires). The real ``failstream stream``, ``alerting`` and
``demo-app`` processes run on the local broker and FerretDB; the demo
service enforces decisions (``FAILSTREAM_ENFORCE=true``), alerting sends to
a webhook receiver served by this process, group_wait 0. Every ``--every``
seconds a fresh loopback IP sends the threshold's bad tokens; from the
answer to the last of them, latency is measured to (a) the webhook's
arrival for that IP and (b) the first 429 the demo service answers that IP,
polled every ``--poll-ms`` with a valid token (a valid request counts
nothing toward detection), so (b) is resolved to that step.

    .venv/bin/python -m benchmarks.decisions_end_to_end --seconds 60 --background 500
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from pymongo import MongoClient

from benchmarks.alerting_end_to_end import background
from benchmarks.smtp_timing import TimingHandler, free_port, pct
from failstream.kafka_config import ensure_topics
from failstream.settings import ReceiverConfig, Settings


class HookTimes:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()


def hook_server(times: HookTimes) -> ThreadingHTTPServer:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.perf_counter()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            subject = json.loads(body)["alert"]["subject"]
            with times.lock:
                times.arrived.setdefault(subject, at)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def attack(
    demo_url: str, ip: str, n: int, valid: str, poll_s: float, limit_s: float
) -> tuple[float, float | None]:
    """Send ``n`` bad tokens; return when the last was answered and when the IP was first refused."""
    transport = httpx.HTTPTransport(local_address=ip)
    with httpx.Client(transport=transport, timeout=5) as client:
        for i in range(n):
            status = client.post(f"{demo_url}/api/submit", headers={"Authorization": f"Bearer bad-{i}"})
            assert status.status_code == 401, status.status_code
        crossed = time.perf_counter()
        while time.perf_counter() - crossed < limit_s:
            answer = client.post(
                f"{demo_url}/api/submit", headers={"Authorization": f"Bearer {valid}"}, json={}
            )
            if answer.status_code == 429:
                return crossed, time.perf_counter()
            time.sleep(poll_s)
    return crossed, None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--background", type=float, default=500, help="background failures per second")
    parser.add_argument("--every", type=float, default=3, help="seconds between probes")
    parser.add_argument("--poll-ms", type=float, default=20, help="step of polling a probe IP for its 429")
    args = parser.parse_args()

    tag = f"bench-dec-{uuid.uuid4().hex[:8]}"
    times = HookTimes()
    hook = hook_server(times)
    receiver = ReceiverConfig(
        name="bench-hook",
        kind="webhook",
        url=f"http://127.0.0.1:{hook.server_address[1]}/hook",  # type: ignore[arg-type]
        secret="bench-secret",  # type: ignore[arg-type]
        send_resolved=False,
    )
    settings = Settings().model_copy(
        update={
            "topic_alerts": f"{tag}-alerts",
            "topic_email_events": f"{tag}-email-events",
            "topic_failed_requests": f"{tag}-failed-requests",
            "topic_live_counts": f"{tag}-live-counts",
            "topic_dead_letters": f"{tag}-dead-letters",
            "topic_decisions": f"{tag}-decisions",
            "mongo_db": tag.replace("-", "_"),
            "stream_app_id": f"{tag}-stream",
            "smtp_port": free_port(),
            "demo_port": free_port(),
            "group_wait_s": 0.0,
            "rate_limit_global": "100000/hour",
            "receivers": (receiver,),
            "enforce": True,
        }
    )
    ensure_topics(settings)
    smtp = Controller(
        TimingHandler(), hostname="127.0.0.1", port=settings.smtp_port
    )  # emails: not timed here
    smtp.start()
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
    valid = settings.demo_tokens[0].get_secret_value()
    poll_s = args.poll_ms / 1000
    stop = threading.Event()
    results: dict[str, tuple[float, float | None]] = {}
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
        warm = attack(demo_url, "127.10.0.1", threshold, valid, 0.2, 120)  # the whole path answers
        if warm[1] is None:
            raise SystemExit(f"the warm-up IP was never refused; logs in {logs}")
        feeder = threading.Thread(target=background, args=(settings, args.background, stop, produced))
        feeder.start()
        time.sleep(min(5.0, args.seconds / 4))  # let the background load settle in
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < args.seconds:
            ip = f"127.10.{1 + i // 250}.{i % 250 + 2}"
            results[ip] = attack(demo_url, ip, threshold, valid, poll_s, 30)
            i += 1
            time.sleep(max(0.0, started + i * args.every - time.monotonic()))
        stop.set()
        feeder.join()
        deadline = time.monotonic() + 15
        while any(ip not in times.arrived for ip in results) and time.monotonic() < deadline:
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
        hook.shutdown()
        smtp.stop()
        MongoClient(settings.mongo_uri.get_secret_value()).drop_database(settings.mongo_db)

    refused = [(r - c) * 1000 for c, r in results.values() if r is not None]
    hooked = [(times.arrived[ip] - c) * 1000 for ip, (c, _) in results.items() if ip in times.arrived]
    achieved = produced[0] / (args.seconds + min(5.0, args.seconds / 4)) if produced else 0.0
    print(f"probes {len(results)}, refused {len(refused)}, webhooks {len(hooked)}")
    total = produced[0] if produced else 0
    print(f"background: {total} failures, ~{achieved:.0f}/s (asked {args.background}/s)")
    for name, values, target in (("webhook", hooked, "1 s"), ("refused by the middleware", refused, "2 s")):
        if values:
            print(
                f"threshold failure -> {name} ms: p50 {pct(values, 50):.0f}  p95 {pct(values, 95):.0f}  "
                f"p99 {pct(values, 99):.0f}  max {max(values):.0f}  (target p99 <= {target})"
            )
    print(f"process logs: {logs}")
    if len(refused) < len(results) or len(hooked) < len(results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
