"""An aiosmtpd handler that notes when each alert email's DATA is accepted.

Shared by the alerting benchmarks: latency ends at the SMTP server's accept,
on the same clock (``time.perf_counter``) as the benchmark's send side.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

SUBJECT_IP = re.compile(rb"Subject: \[Failstream\] ip-failures: (\S+) had")


class TimingHandler:
    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        match = SUBJECT_IP.search(envelope.original_content or envelope.content)
        if match:
            with self.lock:
                # the first accept counts: a second email for the same IP would be a bug, not latency
                self.accepted.setdefault(match.group(1).decode(), at)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank, as both alerting benchmarks report it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
