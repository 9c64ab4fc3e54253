"""The whole pipeline on private services, with a supervisor, for fault-injection runs.

A broker, a FerretDB and an SMTP server of its own (free ports, data in a
work directory), so faults never touch the shared services; the four
Failstream processes run as ``python -m failstream.cli <command>``, each
watched by a ``Supervisor`` that restarts a process that exited, as compose's
``restart: always`` would (a short delay, doubling while the process keeps
dying young). It never restarts the stream worker's persister child: that is
the worker's own job. Shared by ``tests/faults`` and
``benchmarks.fault_recovery``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from failstream.infra.smtp_sink import MaildirHandler
from failstream.kafka_config import ensure_topics
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, SmtpSink, free_port, wait_until
from tests.integration.throwaway import ThrowawayBroker, ThrowawayFerretDB

SERVICES = ("stream", "alerting", "api", "demo-app")

#: Rule ``ip-failures`` as configured for fault runs: THRESHOLD failures within WINDOW_S.
THRESHOLD = 40
WINDOW_S = 10
GRACE_S = 60
REPEAT_S = 86_400


def fault_settings(base: Settings, workdir: Path, smtp_port: int) -> Settings:
    """Settings for a fault run: small rule numbers, one rule that can fire, free ports, private dirs.

    Only ``ip-failures`` can fire (the other rules' thresholds are out of
    reach), resolved episodes are not emailed and rate limits are out of the
    way, so every email is one ``ip-failures`` firing and the set of emails
    can be compared with the oracle exactly; a duplicate has to be stopped
    by the fence, not hidden by a rate limit.
    """
    return base.model_copy(
        update={
            "mongo_db": "failstream_faults",
            "smtp_port": smtp_port,
            "group_wait_s": 1.0,
            "rule_ip_threshold": THRESHOLD,
            "rule_ip_window_s": WINDOW_S,
            "rule_ip_route_threshold": 1_000_000_000,
            "rule_ip_route_window_s": WINDOW_S,
            "rule_spike_per_minute": 1_000_000_000,
            "rule_email_min_volume": 1_000_000_000,
            "repeat_interval_s": REPEAT_S,
            "grace_s": GRACE_S,
            "notify_resolved_rules": (),
            "rate_limit_per_subject": "100/minute",
            "rate_limit_global": "100000/hour",
            "stream_session_timeout_s": 10,
            "stream_instance_id": "faults-stream-1",  # as a deployment of one worker would set it
            "api_port": free_port(),
            "demo_port": free_port(),
            "metrics_stream_port": free_port(),
            "metrics_persister_port": free_port(),
            "metrics_alerting_port": free_port(),
            "producer_spool_dir": workdir / "spool",
            "stream_data_dir": workdir / "stream-data",
        }
    )


class ArrivalsHandler(MaildirHandler):
    """Keeps each accepted message with the time it arrived (and in the Maildir, as the sink does)."""

    def __init__(self, maildir: Path) -> None:
        super().__init__(maildir)
        self.arrivals: list[tuple[float, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.arrivals.append((time.time(), envelope.original_content or envelope.content))
        return answer

    def messages(self) -> list[tuple[float, EmailMessage]]:
        return [
            (at, message_from_bytes(data, policy=policy.default))  # type: ignore[misc]
            for at, data in list(self.arrivals)
        ]


@dataclass(frozen=True)
class Exit:
    service: str
    name: str
    code: int | None
    at: float
    expected: bool  # the test killed it

    def __str__(self) -> str:
        return f"{self.name} exited with {self.code} at {time.strftime('%H:%M:%S', time.gmtime(self.at))}"


class Supervisor:
    """Restarts a top-level process that exits, as compose's ``restart: always`` would."""

    def __init__(self, group: ProcessGroup, settings: Settings) -> None:
        self.group = group
        self.settings = settings
        self.exits: list[Exit] = []
        self.current: dict[str, str] = {}
        self._generation: dict[str, int] = {}
        self._started_at: dict[str, float] = {}
        self._delay: dict[str, float] = {}
        self._killed: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fault-supervisor", daemon=True)

    def start(self, service: str) -> None:
        with self._lock:
            gen = self._generation.get(service, 0) + 1
            self._generation[service] = gen
            name = f"{service}.{gen}"
            self.group.start(name, service, self.settings)
            self.current[service] = name
            self._started_at[service] = time.monotonic()

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service)
        self._thread.start()

    def proc(self, service: str) -> subprocess.Popen[bytes]:
        with self._lock:
            return self.group.procs[self.current[service]]

    def pid(self, service: str) -> int:
        return self.proc(service).pid

    def kill(self, service: str) -> int:
        """SIGKILL the process and everything in its process group, as a container kill does."""
        with self._lock:
            name = self.current[service]
            proc = self.group.procs[name]
            self._killed.add(name)
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.pid

    def log(self, service: str) -> str:
        return self.group.log(self.current[service])

    def unexpected_exits(self, since: float) -> list[Exit]:
        return [e for e in self.exits if e.at >= since and not e.expected]

    def _watch(self) -> None:
        restart_at: dict[str, float] = {}
        while not self._stop.wait(0.2):
            for service in SERVICES:
                with self._lock:
                    name = self.current[service]
                    code = self.group.procs[name].poll()
                    if code is None or self._stop.is_set():
                        continue
                    if service not in restart_at:
                        self.exits.append(Exit(service, name, code, time.time(), name in self._killed))
                        young = time.monotonic() - self._started_at[service] < 10
                        delay = min(self._delay.get(service, 0.05) * 2, 10.0) if young else 0.1
                        self._delay[service] = delay
                        restart_at[service] = time.monotonic() + delay
                if time.monotonic() >= restart_at.get(service, float("inf")):
                    del restart_at[service]
                    self.start(service)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def persister_pid(stream_pid: int) -> int | None:
    """The stream worker's persister child (a multiprocessing spawn child; not its resource tracker)."""
    for pid in children(stream_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"resource_tracker" not in cmdline and state != "Z":
            return pid
    return None


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Pipeline:
    """Private broker, FerretDB and SMTP server, and the four processes under a ``Supervisor``."""

    def __init__(self, workdir: Path, base: Settings | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "kafka").mkdir(exist_ok=True)
        (workdir / "ferretdb").mkdir(exist_ok=True)
        self.workdir = workdir
        self.broker = ThrowawayBroker(base or Settings(), workdir / "kafka", partitions=2)
        self.mongo = ThrowawayFerretDB(self.broker.settings, workdir / "ferretdb")
        self.mail = ArrivalsHandler(workdir / "maildir")
        self.smtp = SmtpSink(workdir / "maildir", handler=self.mail)
        self.settings = fault_settings(self.mongo.settings, workdir, self.smtp.port)
        self.group = ProcessGroup(workdir / "logs")
        self.supervisor = Supervisor(self.group, self.settings)
        self._client: MongoClient[dict[str, Any]] = MongoClient(
            self.settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=3000
        )
        self.db = self._client[self.settings.mongo_db]

    @property
    def demo_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.demo_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def start(self) -> None:
        self.broker.start()
        ensure_topics(self.settings)
        self.mongo.start()
        self.smtp.start()
        self.supervisor.start_all()
        self.wait_healthy()

    def wait_healthy(self, timeout_s: float = 90) -> None:
        wait_until(lambda: answers(f"{self.demo_url}/healthz"), timeout_s, "the demo service")
        wait_until(lambda: answers(f"{self.api_url}/healthz"), timeout_s, "the API")
        wait_until(lambda: self.persister() is not None, timeout_s, "the persister child")

    def persister(self) -> int | None:
        return persister_pid(self.supervisor.pid("stream"))

    def stored_totals(self) -> dict[str, int]:
        return {d["_id"]: d.get("total", 0) for d in self.db.ip_stats.find({}, {"total": 1})}

    def close(self) -> None:
        self.supervisor.close()
        self.group.stop_all()
        self.smtp.stop()
        self._client.close()
        self.mongo.kill()
        self.broker.kill()
