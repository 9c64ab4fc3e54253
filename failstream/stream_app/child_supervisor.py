"""Restart a dead child process with backoff; past a restart budget, stop the parent non-zero."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

from failstream.dependency import Backoff
from failstream.restarts import RestartBudget

log = logging.getLogger("failstream.stream")

#: A child that ran this long before dying starts the backoff over.
STABLE_S = 60.0


class ChildSupervisor:
    """Keeps one child process running from a thread of the parent.

    ``start`` makes and starts a new child; ``on_restart`` is told of every
    restart (a metric); ``on_give_up`` stops the parent once the budget is
    spent, after ``gave_up`` is set so the parent can exit non-zero.
    """

    def __init__(
        self,
        name: str,
        start: Callable[[], BaseProcess],
        *,
        on_restart: Callable[[], None],
        on_give_up: Callable[[], None],
        budget: RestartBudget | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.gave_up = False
        self._start = start
        self._on_restart = on_restart
        self._on_give_up = on_give_up
        self._budget = budget or RestartBudget()
        # never sooner than half a second: a signal that ended the child may be stopping the parent too
        self._backoff = backoff or Backoff(first_s=1.0, cap_s=30.0)
        self._stopping = threading.Event()
        self.child: BaseProcess | None = None

    def start(self) -> None:
        self.child = self._start()
        threading.Thread(target=self._watch, name=f"{self.name}-supervisor", daemon=True).start()

    def stop(self) -> None:
        """The parent is exiting: a child that dies now is not restarted."""
        self._stopping.set()

    def _watch(self) -> None:
        while True:
            child = self.child
            assert child is not None
            started = time.monotonic()
            child.join()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            if now - started >= STABLE_S:
                self._backoff.reset()
            if not self._budget.allow(now):
                self.gave_up = True
                log.critical(
                    "%s exited (code %s) %d times within %.0f s; stopping so that a supervisor acts",
                    self.name,
                    child.exitcode,
                    self._budget.max_restarts,
                    self._budget.period_s,
                )
                self._on_give_up()
                return
            delay = self._backoff.next()
            log.error("%s exited (code %s); restarting it in %.1f s", self.name, child.exitcode, delay)
            if self._stopping.wait(delay):
                return
            self._on_restart()
            self.child = self._start()
