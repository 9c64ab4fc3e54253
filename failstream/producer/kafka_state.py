"""Whether the sink reaches Kafka, said once per change: one log line down, one back, and a gauge.

librdkafka reconnects by itself and the sink keeps events (its queue, then
the spool) while Kafka is away, so nothing needs restarting; but an
operator must be able to see the outage in the host's metrics and log
without a line per connection attempt. Pure state: the sink tells it what it
saw, with an injected clock for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("failstream.producer")


class KafkaReachability:
    """Up until shown otherwise; ``down``/``back`` log only when the state changes."""

    def __init__(self, where: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.where = where
        self.up = True
        self.changes = 0
        self._down_since = 0.0
        self._clock = clock
        self._lock = threading.Lock()  # librdkafka's callbacks and the sink's thread both report

    def down(self, why: str) -> bool:
        """Kafka could not be reached; True if that is news."""
        with self._lock:
            if not self.up:
                return False
            self.up = False
            self.changes += 1
            self._down_since = self._clock()
        log.warning("Kafka at %s is down (%s): events are kept and sent when it is back", self.where, why)
        return True

    def back(self, waiting: int) -> bool:
        """Kafka answered again; True if that is news. ``waiting``: events kept meanwhile."""
        with self._lock:
            if self.up:
                return False
            self.up = True
            self.changes += 1
            down_for = self._clock() - self._down_since
        log.warning(
            "Kafka at %s is back after %.1f s: sending the %d events kept meanwhile",
            self.where,
            down_for,
            waiting,
        )
        return True
