"""KafkaSink: hands events to Kafka without ever blocking the request path.

``send`` only appends to librdkafka's in-memory queue; a background thread
polls delivery reports. No network call happens in ``__init__``: the first
``send`` (or ``start``) creates the client, so importing or constructing the
sink in a host service can't fail or stall on a down broker.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from failstream.kafka_config import confluent_config
from failstream.settings import Settings

log = logging.getLogger("failstream.producer")


class KafkaSink:
    """One per process; thread-safe; shared by the middlewares and ``report_email_event``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    def _config(self) -> dict[str, Any]:
        s = self._settings
        return {
            **confluent_config(s),
            "enable.idempotence": True,
            # same key -> same partition as Kafka's Java client and aiokafka
            # (Faust), so tables stay co-partitioned with our topics
            "partitioner": "murmur2_random",
            "compression.type": "lz4",
            "linger.ms": s.producer_linger_ms,
            "queue.buffering.max.messages": s.producer_queue_max_messages,
            "message.timeout.ms": s.producer_message_timeout_ms,
            "error_cb": self._on_error,
            "log_level": 3,
        }

    def start(self) -> None:
        with self._lock:
            if self._producer is not None:
                return
            self._producer = Producer(self._config())
            self._poller = threading.Thread(target=self._poll_loop, name="failstream-sink", daemon=True)
            self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            producer = self._producer
            if producer is not None:
                producer.poll(0.1)

    def _on_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
            log.warning("kafka unreachable: %s", error.str())
        else:
            log.error("kafka error: %s", error.str())

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            log.warning("event not delivered to %s: %s", message.topic(), error.str())

    def send(self, topic: str, key: bytes | str | None, value: bytes) -> None:
        """Queue one event; never raises into the caller."""
        try:
            if self._producer is None:
                self.start()
            assert self._producer is not None
            self._producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
        except (BufferError, KafkaException) as exc:
            self.failed += 1
            log.warning("event not queued for %s: %s", topic, exc)
        except Exception:
            self.failed += 1
            log.exception("event not queued for %s", topic)

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait for queued events; returns how many are still undelivered."""
        if self._producer is None:
            return 0
        return int(self._producer.flush(timeout_s))

    def close(self, timeout_s: float = 10.0) -> int:
        remaining = self.flush(timeout_s)
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=1)
        return remaining
