"""Restarting dead processes: a restart budget and a supervisor of command-line processes.

Erlang/OTP's restart intensity: at most ``max_restarts`` within
``period_s``. A child that keeps dying faster than that has a cause a
restart will not fix, so its parent gives up and exits non-zero for its own
supervisor (compose ``restart:``, systemd, Kubernetes) to act on.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections import deque
from collections.abc import Callable

from failstream.dependency import Backoff

log = logging.getLogger("failstream.restarts")


class RestartBudget:
    """At most ``max_restarts`` restarts within any ``period_s``; pure, tested without a clock."""

    def __init__(self, max_restarts: int = 5, period_s: float = 300.0) -> None:
        self.max_restarts = max_restarts
        self.period_s = period_s
        self._restarts: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self._restarts and now - self._restarts[0] >= self.period_s:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            return False
        self._restarts.append(now)
        return True


class GaveUp(RuntimeError):
    """A process died more often than its restart budget allows."""


class ProcessSupervisor:
    """Keeps named processes running; ``check`` restarts the dead ones, with backoff each.

    ``start(name)`` launches a process. ``check`` is called from the parent's
    own loop (no thread), so a restart happens at most one loop turn late.
    """

    def __init__(
        self,
        start: Callable[[str], subprocess.Popen[bytes]],
        *,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = log.warning,
    ) -> None:
        self._start = start
        self._clock = clock
        self._say = say
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._budgets: dict[str, RestartBudget] = {}
        self._backoffs: dict[str, Backoff] = {}
        self._due: dict[str, float] = {}

    def launch(self, name: str) -> None:
        self.procs[name] = self._start(name)
        self._budgets.setdefault(name, RestartBudget())
        self._backoffs.setdefault(name, Backoff(first_s=1.0, cap_s=30.0))

    def check(self) -> None:
        now = self._clock()
        for name, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            due = self._due.get(name)
            if due is None:
                if not self._budgets[name].allow(now):
                    raise GaveUp(f"{name} exited (code {code}) too often; giving up")
                delay = self._backoffs[name].next()
                self._due[name] = now + delay
                self._say(f"{name} exited (code {code}); restarting it in {delay:.1f} s")
            elif now >= due:
                del self._due[name]
                self.launch(name)
