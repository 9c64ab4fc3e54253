"""``failstream demo``: the whole pipeline on local defaults, with demo traffic."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time

import httpx

from failstream.infra import stack
from failstream.infra.process import LOG_DIR
from failstream.infra.smtp_sink import MAILDIR, read_messages
from failstream.restarts import GaveUp, ProcessSupervisor
from failstream.settings import Settings

PROCESSES = ("stream", "alerting", "api", "demo-app")


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s (see logs in {LOG_DIR})")


def _send_traffic(settings: Settings, rounds: int) -> int:
    """Failed and good requests from a few loopback addresses (127.0.0.x are real peers)."""
    url = f"http://{settings.demo_host}:{settings.demo_port}/api/submit"
    good = settings.demo_tokens[0].get_secret_value()
    sent = 0
    for _ in range(rounds):
        for last_octet, bad_share in ((10, 0.9), (11, 0.5), (12, 0.1), (13, 0.0)):
            with httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.0.{last_octet}")) as client:
                roll = random.random()
                if roll < bad_share / 2:
                    headers = {}
                elif roll < bad_share:
                    headers = {"Authorization": "Bearer stolen-or-stale"}
                else:
                    headers = {"Authorization": f"Bearer {good}"}
                try:
                    client.post(url, headers=headers, json={"demo": True})
                except httpx.HTTPError:
                    continue  # the demo service is being restarted: the supervisor says so
                sent += 1
    return sent


def run_demo(settings: Settings, seconds: int = 0, *, with_prometheus: bool = False) -> None:
    # httpx logs every request at INFO: the demo's own traffic would bury its progress line
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not settings.stream_instance_id:  # its one worker, restarted by the supervisor, resumes at once
        settings = settings.model_copy(update={"stream_instance_id": "demo-stream"})
    for line in stack.up(settings, with_prometheus=with_prometheus):
        print(line, flush=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings.as_env(), "PYTHONUNBUFFERED": "1"}

    def start(name: str) -> subprocess.Popen[bytes]:
        with (LOG_DIR / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "failstream.cli", name], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    # a process that dies is started again, as compose's `restart:` would, and said so
    supervisor = ProcessSupervisor(start, say=lambda line: print(f"\n[demo] {line}", flush=True))
    for name in PROCESSES:
        supervisor.launch(name)
    procs = supervisor.procs
    try:
        _wait_http(f"http://{settings.demo_host}:{settings.demo_port}/healthz", 60)
        _wait_http(f"http://{settings.api_host}:{settings.api_port}/healthz", 60)
        api = f"http://{settings.api_host}:{settings.api_port}"
        prometheus_line = (
            f"  prometheus  http://127.0.0.1:{settings.infra_prometheus_port}/\n" if with_prometheus else ""
        )
        print(
            f"\nFailstream is running.\n"
            f"  dashboard   {api}/   (API key: {settings.api_read_keys[0].get_secret_value()})\n"
            f"  stats       curl -H 'X-API-Key: <key>' {api}/api/v1/stats/summary\n"
            f"  demo app    http://{settings.demo_host}:{settings.demo_port}/api/submit\n"
            f"  alert mail  {MAILDIR}  (SMTP sink on {settings.smtp_host}:{settings.smtp_port})\n"
            f"  logs        {LOG_DIR}\n"
            f"{prometheus_line}"
            "Sending demo traffic; Ctrl-C to stop.\n",
            flush=True,
        )
        started, mails_before = time.monotonic(), len(read_messages())
        while not seconds or time.monotonic() - started < seconds:
            supervisor.check()
            sent = _send_traffic(settings, rounds=5)
            mails = len(read_messages()) - mails_before
            print(f"\r  sent {sent} requests this round; alert emails so far: {mails}   ", end="", flush=True)
            time.sleep(1)
        print()
    except KeyboardInterrupt:
        print()
    except GaveUp as exc:
        raise SystemExit(f"failstream demo: {exc} (see {LOG_DIR})") from exc
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("processes stopped; `failstream infra down` stops Kafka, FerretDB and the SMTP sink")
