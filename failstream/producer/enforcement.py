"""Decisions enforced in the host (``FAILSTREAM_ENFORCE=true``): opt-in, and open whenever in doubt.

``DecisionTable`` is the local copy of the active decisions that the request
thread reads: exact IPs in a dict (one lookup for a client without a
decision), prefixes grouped by length (one shift and lookup per length in
use). ``DecisionFeed`` fills it from the compacted ``decisions`` topic on a
daemon thread of its own: every partition read from the beginning (the
latest record of each subject is its state), then followed. ``Enforcer`` says
whether a request's client is refused, and for how long.

Fails open: nothing is refused before the copy has read the whole topic
once, nor while the topic has been unreachable for ``enforce_stale_after_s``
(a lift it cannot hear about must not refuse a client for good), nor for a
decision whose ``until`` has passed, nor when anything in here raises.
Blocked requests are answered before the app runs and recorded by the
capture with reason ``blocked``, which detection does not count.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from failstream.producer.client_ip import client_ip, forwarding_slots, normalise

if TYPE_CHECKING:
    from failstream.settings import CaptureSettings

log = logging.getLogger("failstream.producer")

#: The reason blocked requests are recorded under (``reasons.FAILURE_REASONS``).
BLOCKED = "blocked"
#: How often the feed asks the broker whether it is still there while no record comes.
PROBE_EVERY_S = 5.0
POLL_S = 0.2


class DecisionTable:
    """Active decisions: subject -> until (ms). Written by the feed thread, read by request threads.

    Reads are single dict lookups of dicts that are replaced, never resized
    under a reader, for prefixes; the exact-IP dict is updated in place,
    which the GIL makes safe for ``dict.get``.
    """

    def __init__(self) -> None:
        self.ips: dict[str, int] = {}
        #: (version, prefix length, {network as int: until}) per length in use
        self.prefixes: tuple[tuple[int, int, dict[int, int]], ...] = ()
        self._prefix_until: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ips) + len(self._prefix_until)

    def apply(self, subject: str, until: int | None) -> None:
        """Set (``until``) or remove (None) a subject's decision."""
        if "/" not in subject:
            if until is None:
                self.ips.pop(subject, None)
            else:
                self.ips[subject] = until
            return
        if until is None:
            self._prefix_until.pop(subject, None)
        else:
            self._prefix_until[subject] = until
        self.prefixes = _group(self._prefix_until.items())

    def until(self, ip: str) -> int | None:
        """The ``until`` of the decision covering ``ip`` (canonical text), if any."""
        found = self.ips.get(ip)
        if found is not None or not self.prefixes:
            return found
        address = normalise(ip)
        if address is None:
            return None
        value = int(address)
        for version, length, networks in self.prefixes:
            if version == address.version:
                hit = networks.get(value >> ((32 if version == 4 else 128) - length))
                if hit is not None:
                    return hit
        return None


def _group(items: Iterable[tuple[str, int]]) -> tuple[tuple[int, int, dict[int, int]], ...]:
    import ipaddress

    groups: dict[tuple[int, int], dict[int, int]] = {}
    for subject, until in items:
        network = ipaddress.ip_network(subject, strict=False)
        bits = 32 if network.version == 4 else 128
        key = int(network.network_address) >> (bits - network.prefixlen)
        groups.setdefault((network.version, network.prefixlen), {})[key] = until
    return tuple((version, length, nets) for (version, length), nets in groups.items())


class DecisionFeed:
    """The ``decisions`` topic into a ``DecisionTable``, on a daemon thread (started by ``start``)."""

    def __init__(self, settings: CaptureSettings, table: DecisionTable) -> None:
        self._settings = settings
        self.table = table
        #: the whole topic has been read once: until then nothing is refused
        self.ready = False
        #: monotonic time the broker last answered
        self.last_ok = 0.0
        self._stale_after_s = settings.enforce_stale_after_s
        self._since = 0.0  # when the feed began waiting for the broker (``start``)
        self._said_open = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._since = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="failstream-decisions", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception:
                log.exception("decisions feed failed; enforcement is open until it is back")
                self._stop.wait(PROBE_EVERY_S)

    def _follow(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

        from failstream.kafka_config import confluent_config

        topic = self._settings.topic_decisions
        consumer = Consumer(
            {
                **confluent_config(self._settings),
                # assigned, never subscribed: the group is never joined and nothing is committed
                "group.id": f"failstream-enforce-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                # an outage is said once by ``_say_reachability``; librdkafka's own lines would
                # repeat every reconnect on the host's stderr
                "log_level": 0,
            }
        )
        try:
            partitions = self._partitions(consumer, topic)
            if partitions is None:
                return
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            at_end: set[int] = set()
            probed = time.monotonic()
            while not self._stop.is_set():
                message = consumer.poll(POLL_S)
                now = time.monotonic()
                self._say_reachability(now)
                if message is None:
                    if now - probed >= PROBE_EVERY_S:
                        probed = now
                        self._probe(consumer, TopicPartition(topic, partitions[0]))
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        self.last_ok = now
                        at_end.add(message.partition())  # type: ignore[arg-type]
                        if not self.ready and at_end >= set(partitions):
                            self.ready = True
                            log.info("decisions feed caught up: %d decision(s) enforced", len(self.table))
                    continue
                self.last_ok = now
                self._apply(message.key(), message.value())
        finally:
            consumer.close()

    def _partitions(self, consumer: Any, topic: str) -> list[int] | None:
        """The topic's partitions, once it exists (alerting creates it); None when stopped first."""
        while not self._stop.is_set():
            try:
                metadata = consumer.list_topics(topic, timeout=5)
                found = metadata.topics.get(topic)
                if found is not None and found.error is None and found.partitions:
                    self.last_ok = time.monotonic()
                    return sorted(found.partitions)
            except Exception as exc:
                log.debug("decisions topic not readable yet: %s", exc)
            self._say_reachability(time.monotonic())
            self._stop.wait(PROBE_EVERY_S)
        return None

    def _say_reachability(self, now: float) -> None:
        """Say once that enforcement is open because the topic is out of reach, and once that it is back."""
        out_of_reach = now - max(self.last_ok, self._since) > self._stale_after_s
        if out_of_reach and not self._said_open:
            self._said_open = True
            log.warning(
                "decisions topic unreachable for over %.0f s: enforcement is open (refuses nobody) "
                "until it is back",
                self._stale_after_s,
            )
        elif self._said_open and not out_of_reach and self.ready:
            self._said_open = False
            log.warning("decisions topic reachable again: enforcement is back")

    def _probe(self, consumer: Any, partition: Any) -> None:
        try:
            consumer.get_watermark_offsets(partition, timeout=2.0, cached=False)
        except Exception as exc:
            log.debug("decisions topic unreachable: %s", exc)
            return
        self.last_ok = time.monotonic()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if not key:
            return
        subject = key.decode("utf-8", "replace")
        if value is None:
            self.table.apply(subject, None)
            return
        try:
            until = int(json.loads(value)["until"])
        except (ValueError, KeyError, TypeError):
            log.warning("decision for %s unreadable: ignored", subject[:100])
            return
        self.table.apply(subject, until)


class Enforcer:
    """Is this client refused, and for how many seconds? None whenever in doubt."""

    def __init__(self, settings: CaptureSettings, table: DecisionTable, feed: DecisionFeed | None) -> None:
        self.table = table
        self.feed = feed
        self.status = settings.enforce_status
        self._stale_after_s = settings.enforce_stale_after_s
        #: the trusted proxies and the one header they set, read only behind them (``client_ip``)
        self.trusted = settings.trusted_proxy_networks
        self.forwarding_header = settings.forwarded_header

    @classmethod
    def from_settings(cls, settings: CaptureSettings) -> Enforcer:
        table = DecisionTable()
        return cls(settings, table, DecisionFeed(settings, table))

    def start(self) -> None:
        if self.feed is not None:
            self.feed.start()

    def retry_after(self, peer: str | None, forwarded: str | None) -> int | None:
        """Seconds the client of a request from ``peer`` (with the forwarding header's value) is refused."""
        try:
            if not self.table.ips and not self.table.prefixes:
                return None
            if self.trusted:
                ip = client_ip(peer, *forwarding_slots(self.forwarding_header, forwarded), self.trusted)
            elif peer is None:
                return None
            else:
                ip = peer if ":" not in peer else str(normalise(peer) or peer)
            until = self.table.until(ip)
            if until is None:
                return None
            return self._refused_for(until)
        except Exception:  # never the host's problem: let the request through
            log.exception("enforcement check failed; request let through")
            return None

    def _refused_for(self, until: int) -> int | None:
        feed = self.feed
        if feed is not None and (not feed.ready or time.monotonic() - feed.last_ok > self._stale_after_s):
            return None
        left_ms = until - time.time() * 1000
        return math.ceil(left_ms / 1000) if left_ms > 0 else None
