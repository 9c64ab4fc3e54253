"""Riding out an outage of a dependency (MongoDB, Kafka, SMTP): wait, retry, say so once.

A process that loses its database must neither exit nor pretend. Each
dependency it needs is one ``Dependency``: the first failure logs one
warning and sets ``failstream_dependency_up{dependency}`` to 0, readiness
(``failstream.metrics.http``) answers 503 while any is down, and the first
success after logs one line and sets it back. ``until_done`` retries an
operation with capped exponential backoff and full jitter until it
succeeds, so the caller holds its work (and its uncommitted offsets) rather
than dropping it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Gauge

log = logging.getLogger("failstream.dependency")

T = TypeVar("T")

DEPENDENCY_UP = Gauge(
    "failstream_dependency_up",
    "1 while the process reaches the dependency, 0 while it waits for it to come back",
    ["dependency"],
)


class Backoff:
    """Capped exponential delays with full jitter (AWS's "full jitter"): pure, tested without a clock."""

    def __init__(
        self, first_s: float = 0.2, cap_s: float = 5.0, rand: Callable[[], float] = random.random
    ) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self._rand = rand
        self._attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap_s, self.first_s * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 32)
        # never below half the ceiling: a crowd of retries spreads out, yet none spins
        return ceiling * (0.5 + self._rand() / 2)

    def reset(self) -> None:
        self._attempt = 0


class Dependency:
    """One dependency's state as this process sees it; every change is logged once."""

    #: Every dependency of this process, for readiness.
    known: dict[str, Dependency] = {}

    def __init__(
        self, name: str, *, gauge: Gauge = DEPENDENCY_UP, logger: logging.Logger = log, quiet: bool = False
    ) -> None:
        self.name = name
        self._quiet = quiet  # the owner says what changed in its own words
        self.up = True
        self.last_error = ""
        self._down_since = 0.0
        self._gauge = gauge.labels(name)
        self._gauge.set(1)
        self._log = logger
        Dependency.known[name] = self

    def down(self, error: BaseException) -> None:
        self.last_error = _describe(error)
        if self.up:
            self.up = False
            self._down_since = time.monotonic()
            self._gauge.set(0)
            if not self._quiet:
                self._log.warning(
                    "%s is down (%s); holding work and retrying with backoff", self.name, self.last_error
                )

    def back(self, *, attempt_started: float | None = None) -> None:
        """The dependency answered; ``attempt_started`` (monotonic) is when that attempt began.

        An attempt already under way when the outage was seen can still
        succeed (its reply was on the wire): that says nothing about now, so
        it does not end the outage, and one outage stays one pair of lines.
        """
        if not self.up:
            if attempt_started is not None and attempt_started < self._down_since:
                return
            self.up = True
            self._gauge.set(1)
            if not self._quiet:
                self._log.warning(
                    "%s is back after %.1f s; resuming", self.name, time.monotonic() - self._down_since
                )

    @classmethod
    def named(cls, name: str) -> Dependency:
        """This process's one state of ``name``, made on first use."""
        return cls.known.get(name) or cls(name)

    @classmethod
    def down_now(cls) -> dict[str, str]:
        """The dependencies this process waits for, with the last error of each."""
        return {name: dep.last_error for name, dep in cls.known.items() if not dep.up}


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


async def until_done(
    operation: Callable[[], Awaitable[T]],
    dependency: Dependency,
    retry_on: tuple[type[BaseException], ...],
    *,
    retryable: Callable[[BaseException], bool] = lambda _: True,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run ``operation`` until it succeeds; errors of ``retry_on`` mark the dependency down meanwhile.

    ``retryable`` narrows ``retry_on`` further (say, Kafka errors the client
    marks retriable). Any other error is a bug, not an outage, and propagates.
    """
    delays = backoff or Backoff()
    while True:
        started = time.monotonic()
        try:
            result = await operation()
        except retry_on as exc:
            if not retryable(exc):
                raise
            dependency.down(exc)
            await sleep(delays.next())
            continue
        dependency.back(attempt_started=started)
        return result
