"""One of a kind per Kafka connection and spool, for the one-line installs.

A host service that adds the ASGI middleware, the WSGI middleware and
``report_email_event`` should run one Kafka client and one spool, not three;
and it should not have to close them itself: they are flushed at exit. The
same holds for the relay that stands in for them (``producer.relay_client``).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from failstream.producer.sink import KafkaSink
from failstream.settings import Settings

#: how long interpreter exit may wait for Kafka before the rest is spooled
EXIT_FLUSH_S = 5.0


class _Closable(Protocol):
    def close(self, timeout_s: float = ...) -> int: ...


T = TypeVar("T", bound=_Closable)


class PerConnection(Generic[T]):
    """One ``T`` per (bootstrap servers, security protocol, spool dir), made on first use, closed at exit."""

    def __init__(self, make: Callable[[Settings], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str, str], T] = {}

    def get(self, settings: Settings) -> T:
        key = (
            settings.kafka_bootstrap_servers,
            settings.kafka_security_protocol,
            str(settings.producer_spool_dir),
        )
        with self._lock:
            item = self._items.get(key)
            if item is None:
                item = self._items[key] = self._make(settings)
                if len(self._items) == 1:
                    atexit.register(self.close_all)
            return item

    def close_all(self, timeout_s: float = EXIT_FLUSH_S) -> None:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for item in items:
            item.close(timeout_s)


_SINKS = PerConnection(KafkaSink)


def shared_sink(settings: Settings) -> KafkaSink:
    """The sink for these connection settings, created on first use."""
    return _SINKS.get(settings)


def close_shared_sinks(timeout_s: float = EXIT_FLUSH_S) -> None:
    _SINKS.close_all(timeout_s)
