"""librdkafka's error callback, sorted into one readable line per problem.

librdkafka reports the same broken certificate or down broker every few
hundred milliseconds, from every connection. A host service's log should get
one line that says what is wrong and how to fix it, then silence until the
problem changes or a minute has passed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError

from failstream.settings import CaptureSettings

log = logging.getLogger("failstream.producer")

ErrorCallback = Callable[[KafkaError], None]

REPEAT_AFTER_S = 60.0
_UNREACHABLE = (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE)
TLS_FAILED = "Kafka TLS handshake failed"

_TLS_HINTS = (
    (
        "certificate verify failed",
        "the broker's certificate is not signed by the CA in {cafile}: "
        "download ca.pem for this service (Aiven console) or set FAILSTREAM_KAFKA_SSL_CAFILE",
    ),
    (
        "unknown ca",
        "the broker does not trust the client certificate {certfile}: "
        "download service.cert/service.key for this service or set FAILSTREAM_KAFKA_SSL_CERTFILE/KEYFILE",
    ),
    (
        "certificate required",
        "the broker wants a client certificate: set FAILSTREAM_KAFKA_SSL_CERTFILE/KEYFILE",
    ),
    (
        "wrong version number",
        "the broker port does not speak TLS: check FAILSTREAM_KAFKA_SECURITY_PROTOCOL and the port",
    ),
)


def explain(error: KafkaError, settings: CaptureSettings) -> tuple[int, str]:
    """(log level, one line) for a librdkafka error."""
    code, text = error.code(), error.str()
    lowered = text.lower()
    # TLS failures arrive as _SSL, then again as _TRANSPORT from the same socket
    for needle, hint in _TLS_HINTS:
        if needle in lowered:
            fix = hint.format(cafile=settings.kafka_ssl_cafile, certfile=settings.kafka_ssl_certfile)
            return logging.ERROR, f"{TLS_FAILED}: {fix} ({text})"
    if code == KafkaError._SSL or "ssl handshake failed" in lowered:
        return logging.ERROR, f"{TLS_FAILED}: {text}"
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return logging.ERROR, (
            "Kafka authentication failed: check FAILSTREAM_KAFKA_SASL_MECHANISM, _USERNAME "
            f"and _PASSWORD ({text})"
        )
    if code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE):
        return logging.WARNING, (
            f"Kafka at {settings.kafka_bootstrap_servers} unreachable, "
            f"events are kept and sent later ({text})"
        )
    if error.fatal():
        return logging.ERROR, f"Kafka producer fatal error, the producer is recreated: {text}"
    return logging.WARNING, f"Kafka error: {text}"


class KafkaErrorLog:
    """An ``error_cb`` that logs each distinct problem once per ``REPEAT_AFTER_S``."""

    def __init__(
        self,
        settings: CaptureSettings,
        on_fatal: Callable[[], None] | None = None,
        on_unreachable: Callable[[str], object] | None = None,
    ) -> None:
        self._settings = settings
        self._on_fatal = on_fatal
        # given, it says "Kafka is down" once per outage instead of this log's once a minute
        self._on_unreachable = on_unreachable
        self._last: dict[str, float] = {}
        self._last_error_at = -REPEAT_AFTER_S
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def __call__(self, error: KafkaError) -> None:
        if error.fatal() and self._on_fatal is not None:
            self._on_fatal()
        level, line = explain(error, self._settings)
        if self._on_unreachable is not None and error.code() in _UNREACHABLE:
            if error.code() == KafkaError._ALL_BROKERS_DOWN:
                self._on_unreachable(error.str())
            if level == logging.WARNING:
                level = logging.DEBUG  # not a TLS/auth error: the outage is said once, by on_unreachable
        # the problem, not the broker address or timing that vary per connection
        key = line.split(" (", 1)[0]
        now = time.monotonic()
        with self._lock:
            if level == logging.WARNING and self._recent_error(now):
                level = logging.DEBUG  # "brokers are down" after a TLS/auth error only repeats it
            if now - self._last.get(key, -REPEAT_AFTER_S) < REPEAT_AFTER_S:
                return
            self._last[key] = now
            if level == logging.ERROR:
                self._last_error_at = now
        self.last_error = line
        log.log(level, line)

    def _recent_error(self, now: float) -> bool:
        return now - self._last_error_at < REPEAT_AFTER_S

    def reset(self) -> None:
        """The connection works again: the next problem is news."""
        with self._lock:
            self._last.clear()
            self._last_error_at = -REPEAT_AFTER_S
        self.last_error = None
