"""One of a kind per Kafka connection and spool, for the one-line installs.

A host service that adds the ASGI middleware, the WSGI middleware and
``report_email_event`` should run one Kafka client and one spool, not three;
and it should not have to close them itself: at exit the capture queue is
drained into the sinks first, then the sinks deliver (or spool) and close.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING

from failstream.producer.capture_queue import capture_queue

if TYPE_CHECKING:
    from failstream.producer.sink import KafkaSink
    from failstream.settings import CaptureSettings

#: how long interpreter exit may wait for Kafka before the rest is spooled
EXIT_FLUSH_S = 5.0


class _Sinks:
    """One KafkaSink per (bootstrap servers, security protocol, spool dir), made on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str, str], KafkaSink] = {}

    def get(self, settings: CaptureSettings) -> KafkaSink:
        key = (
            settings.kafka_bootstrap_servers,
            settings.kafka_security_protocol,
            str(settings.producer_spool_dir),
        )
        with self._lock:
            item = self._items.get(key)
            if item is None:
                from failstream.producer.sink import KafkaSink  # librdkafka only once an event comes

                item = self._items[key] = KafkaSink(settings)
            return item

    def close_all(self, timeout_s: float = EXIT_FLUSH_S) -> None:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for item in items:
            item.close(timeout_s)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at the fork


_SINKS = _Sinks()


def shared_sink(settings: CaptureSettings) -> KafkaSink:
    """The sink for these connection settings, created on first use and closed at exit."""
    return _SINKS.get(settings)


def close_shared_sinks(timeout_s: float = EXIT_FLUSH_S) -> None:
    """Hand every queued failure to its sink, then deliver (or spool) and close the shared sinks."""
    capture_queue().flush(timeout_s)
    _SINKS.close_all(timeout_s)


def _at_exit() -> None:
    capture_queue().close(EXIT_FLUSH_S)
    _SINKS.close_all(EXIT_FLUSH_S)


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_SINKS.after_fork_in_child)
