"""What the outage tests watch from outside: readiness, the log, alerts arriving all along."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

from failstream.events import Alert
from failstream.settings import Settings
from tests.integration.alerting.harness import make_alert, produce_alerts


def readiness(port: int) -> int:
    """The HTTP status of the alerting process's ``/readyz`` (0 while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def dependency_up(port: int, dependency: str) -> float | None:
    """``failstream_dependency_up{dependency=...}`` as the process's ``/metrics`` shows it now."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    prefix = f'failstream_dependency_up{{dependency="{dependency}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


class AlertStream:
    """Produces one new alert (a new subject) every ``every_s`` in a thread, until stopped."""

    def __init__(self, settings: Settings, prefix: str, every_s: float = 1.0) -> None:
        self._settings = settings
        self._prefix = prefix
        self._every_s = every_s
        self._stop = threading.Event()
        self.sent: list[Alert] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def produce(self, count: int) -> None:
        alerts = [make_alert(f"{self._prefix}.{len(self.sent) + i}") for i in range(count)]
        produce_alerts(self._settings, alerts)
        self.sent.extend(alerts)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.produce(1)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class ReadinessProbe:
    """Polls ``/readyz`` in a thread and keeps every status seen, with when it was seen."""

    def __init__(self, port: int, every_s: float = 0.5) -> None:
        self._port = port
        self._every_s = every_s
        self._stop = threading.Event()
        self.seen: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.seen.append((time.monotonic(), readiness(self._port)))

    def statuses_between(self, start: float, end: float) -> set[int]:
        return {status for at, status in self.seen if start <= at <= end}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def emails_per_subject(messages: list[EmailMessage], alerts: list[Alert]) -> Counter[str]:
    """How many emails named each alert's subject (one alert per email: no grouping in these tests)."""
    counts: Counter[str] = Counter()
    for message in messages:
        for alert in alerts:
            if f"{alert.subject} " in f"{message['Subject']} ":
                counts[alert.subject] += 1
    return counts


def delivered_at(maildir: Path, alerts: list[Alert]) -> dict[str, float]:
    """When the relay stored each alert's email (file time, epoch seconds), by alert subject.

    Read from the relay's side, so a test process slowed down by a busy
    machine does not add its own delay to the number.
    """
    found: dict[str, float] = {}
    for path in sorted((maildir / "new").iterdir()):
        with path.open("rb") as f:
            subject = f"{BytesHeaderParser().parse(f)['Subject']} "
        for alert in alerts:
            if f"{alert.subject} " in subject:
                found[alert.subject] = min(found.get(alert.subject, float("inf")), path.stat().st_mtime)
    return found
