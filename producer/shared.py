"""The process's one KafkaSink, for the one-line installs.

A host service that adds the ASGI middleware, the WSGI middleware and
``report_email_event`` should run one Kafka client and one spool, not three;
and it should not have to close the sink itself: it is flushed at exit.
"""

from __future__ import annotations

import atexit
import threading

from failstream.settings import Settings
from producer.sink import KafkaSink

_lock = threading.Lock()
_sinks: dict[tuple[str, str, str], KafkaSink] = {}

#: how long interpreter exit may wait for Kafka before the rest is spooled
EXIT_FLUSH_S = 5.0


def shared_sink(settings: Settings) -> KafkaSink:
    """The sink for these connection settings, created on first use."""
    key = (
        settings.kafka_bootstrap_servers,
        settings.kafka_security_protocol,
        str(settings.producer_spool_dir),
    )
    with _lock:
        sink = _sinks.get(key)
        if sink is None:
            sink = _sinks[key] = KafkaSink(settings)
            if len(_sinks) == 1:
                atexit.register(close_shared_sinks)
        return sink


def close_shared_sinks(timeout_s: float = EXIT_FLUSH_S) -> None:
    with _lock:
        sinks = list(_sinks.values())
        _sinks.clear()
    for sink in sinks:
        sink.close(timeout_s)
