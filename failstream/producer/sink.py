"""KafkaSink: hands events to Kafka without ever blocking or failing the request path.

``send`` only appends to librdkafka's in-memory queue (or, while Kafka is
unhappy, to an in-memory list). One background thread does everything that
can wait: it writes events Kafka could not take to the on-disk spool, probes
the broker and replays the spool in order when it is back. No network call
happens in ``__init__``; the first ``send`` (or ``start``) creates the
client, so constructing the sink in a host service can't fail or stall on a
down broker.

Zero loss: an event leaves the sink's care only when Kafka acknowledged it
(idempotent producer, acks=all), or when the spool is over its byte budget,
in which case the oldest events are dropped with a metric and a log line.

Delivery reports cost the host's request thread more than producing does,
so two things keep them cheap. Only failed events come back to Python
(``delivery.report.only.error``); what Kafka acknowledged is counted instead
as "handed over, not failed, no longer in librdkafka" (see
:attr:`KafkaSink.delivered`). And while events flow, the sending thread
itself serves librdkafka's reports, every ``_SERVE_EVERY`` sends with a
``poll(0)`` that never waits: confluent-kafka takes the GIL once per event
report, even for a skipped one, and from the background thread each take
was a hand-over with the busy request thread. The background thread polls
only in ticks when no sender did (little traffic, or none), and while Kafka
is healthy and librdkafka holds nothing it only looks every half second:
polling every 50 ms for reports that cannot come cost the host's request
threads GIL hand-overs at low traffic.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from failstream.kafka_config import KafkaCredentialsError, confluent_config
from failstream.producer import metrics
from failstream.producer.kafka_errors import KafkaErrorLog
from failstream.producer.kafka_state import KafkaReachability
from failstream.producer.spool import DiskSpool, Record, SpoolWriteError
from failstream.settings import CaptureSettings

log = logging.getLogger("failstream.producer")

_TICK_S = 0.05
# while senders serve the reports and nothing waits for the thread, it only publishes
# metrics: waking it more often costs the busy request thread GIL hand-overs
_QUIET_TICK_S = 0.5
_SERVE_EVERY = 64  # sends between two rounds of serving librdkafka's reports on the sending thread
_PROBE_EVERY_S = 1.0
_PROBE_TIMEOUT_S = 1.0
_WARM_UP_TIMEOUT_S = 1.0
_REPLAY_CHUNK = 500
_REPLAY_PAUSE_S = 0.005  # at most ~100k replayed events/s
# delivery failures that mean "Kafka is not there", as opposed to "Kafka refused this event"
_UNREACHABLE = (KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)


_sinks: weakref.WeakSet[KafkaSink] = weakref.WeakSet()
#: a forked child's copies of its parent's clients and spools: never used, never freed
#: (see KafkaSink._after_fork_in_child)
_left_by_parent: list[tuple[Any, Any]] = []


def _after_fork_in_child() -> None:
    for sink in list(_sinks):
        sink._after_fork_in_child()


class _Clocks:
    """When the background thread next probes and publishes, and the senders' serve count it saw."""

    def __init__(self) -> None:
        self.next_probe = 0.0
        self.next_metrics = 0.0
        self.served = -1


class KafkaSink:
    """One per process; thread-safe; shared by the middlewares and ``report_email_event``."""

    def __init__(self, settings: CaptureSettings, *, spool_dir: Path | None = None) -> None:
        self._settings = settings
        self._spool_dir_arg = spool_dir
        _sinks.add(self)
        self._spool = DiskSpool(spool_dir or settings.producer_spool_dir, settings.producer_spool_max_bytes)
        self._spool_ok = False
        self._spool_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._producer: Producer | None = None
        self._thread: threading.Thread | None = None
        self._pending: deque[Record] = deque()
        # events on their way to disk; the thread empties it every tick, so this
        # bound only bites if the disk stalls for a long time
        self._pending_max = 100_000
        self._spooling = False
        self._last_replay_ok = False  # until a replay shows Kafka takes events, diverted ones go to disk
        self._fatal = False
        self._closing = False
        self._closed = threading.Event()
        self._wake = threading.Event()  # ends a quiet tick early: something needs the thread
        self._deadline = 0.0
        self.kafka = KafkaReachability(settings.kafka_bootstrap_servers)
        # librdkafka's "all brokers down" can flap as a broker comes back: the thread checks it first
        self._suspected_down: str | None = None
        self._errors = KafkaErrorLog(settings, on_fatal=self._mark_fatal, on_unreachable=self._suspect_down)
        self._spool_failing = False  # the last spool write failed: said once, and once when it works
        self.config_error: str | None = None
        self.left_on_disk = 0
        # plain counters, published to Prometheus by the background thread
        self._count_lock = threading.Lock()
        self._produced = 0  # every event produce() accepted: live, diverted and replayed ones
        self._failed = 0  # of those, the ones librdkafka reported back as failed
        self._served_by_senders = 0  # polls done by send(); see the module docstring
        self.delivery_errors = 0
        self.spooled = 0
        self.replayed = 0
        self.dropped_spool_full = 0
        self.dropped_other = 0
        self.spool_write_failures = 0
        self._metrics = metrics.SinkMetricsPublisher()

    # --- configuration ------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        s = self._settings
        return {
            **confluent_config(s),  # raises KafkaCredentialsError with one clear line
            "enable.idempotence": True,
            # same key -> same partition as Kafka's Java client and aiokafka
            # (Faust), so tables stay co-partitioned with our topics
            "partitioner": "murmur2_random",
            "compression.type": "lz4",
            "linger.ms": s.producer_linger_ms,
            "queue.buffering.max.messages": s.producer_queue_max_messages,
            "message.timeout.ms": s.producer_message_timeout_ms,
            "reconnect.backoff.max.ms": 2000,
            "on_delivery": self._on_delivery,
            # acknowledged events need no Python callback (see the module docstring);
            # failed ones still come back through on_delivery and go to the spool
            "delivery.report.only.error": True,
            "error_cb": self._errors,
            # errors arrive sorted through error_cb; librdkafka's own log lines
            # would repeat them on stderr from every connection
            "log_level": 0,
        }

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        """Open the spool, start the background thread, create the client.

        Raises :class:`KafkaCredentialsError` for unusable TLS/SASL material so
        a host can fail its start-up with that one line; events sent anyway
        are kept in the spool until a restart with working credentials.
        """
        with self._start_lock:
            if self._thread is not None:
                if self.config_error:
                    raise KafkaCredentialsError(self.config_error)
                return
            with self._spool_lock:
                try:
                    self._spool.open()
                    self._spool_ok = True
                    self._spooling = bool(self._spool)
                except OSError as exc:
                    log.error(
                        "producer spool %s unusable, events Kafka can't take are lost: %s",
                        self._spool.root,
                        exc,
                    )
            self._thread = threading.Thread(target=self._run, name="failstream-sink", daemon=True)
            try:
                self._producer = Producer(self._config())
            except (KafkaCredentialsError, KafkaException, ValueError) as exc:
                self.config_error = str(exc)
                self._spooling = True
                log.error("%s (events are kept in the spool until this is fixed)", exc)
                raise
            finally:
                self._thread.start()

    def warm_up(self, topics: tuple[str, ...], timeout_s: float = _WARM_UP_TIMEOUT_S) -> None:
        """Connect and fetch the topics' metadata now, so the first event does not wait for both.

        librdkafka connects lazily and learns a topic's partitions on its first
        produce; for a quiet host that first event is the one that matters.
        Never raises: a broker that is down is the sink's ordinary business.
        """
        producer = self._producer
        if producer is None:
            return
        for topic in topics:
            try:
                producer.list_topics(topic, timeout=timeout_s)
            except KafkaException:
                return

    def close(self, timeout_s: float = 10.0) -> int:
        """Deliver what is queued within ``timeout_s``; spool the rest. Returns events left on disk."""
        thread = self._thread
        if thread is None or self._closed.is_set():
            return self.left_on_disk
        self._deadline = time.monotonic() + timeout_s
        self._closing = True
        self._wake.set()
        thread.join(timeout_s + 5.0)
        return self.left_on_disk

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait until every event is acknowledged (queue and spool empty); returns how many are not."""
        deadline = time.monotonic() + timeout_s
        self._wake.set()  # the last reports may wait for the thread's poll
        while True:
            waiting = self.waiting()
            if waiting == 0 or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.01)

    def waiting(self) -> int:
        """Events not yet acknowledged by Kafka: in librdkafka, in memory or on disk.

        May count an event twice for a moment (a replayed one is in librdkafka
        and still on disk until its segment is done), never zero times: an event
        leaves librdkafka's count only once acknowledged, or after its failure
        report put it in ``_pending``. It may also count a few of librdkafka's
        own callbacks (errors) that no poll has served yet.
        """
        with self._spool_lock:
            return self._in_librdkafka() + len(self._pending) + self._spool.events

    @property
    def delivered(self) -> int:
        """Events Kafka acknowledged: handed to librdkafka, not reported failed, no longer in it.

        Successful deliveries produce no report (``delivery.report.only.error``),
        so they are counted by subtraction. librdkafka keeps counting an event until
        its report (if any) was served, so this lags, never leads, the truth.
        """
        with self._count_lock:
            produced, failed = self._produced, self._failed
        return max(0, produced - failed - self._in_librdkafka())

    def _in_librdkafka(self) -> int:
        """Events queued, in flight or awaiting their failure report, plus unserved callbacks."""
        producer = self._producer
        return len(producer) if producer is not None else 0

    # --- request path -------------------------------------------------------

    def send(self, topic: str, key: bytes | str | None, value: bytes) -> None:
        """Queue one event; never raises into the caller and never waits on the network."""
        if isinstance(key, str):
            key = key.encode()
        producer = self._producer
        if producer is None and self._thread is None:
            try:
                self.start()
            except Exception:
                pass  # start() logged it, once; the event goes to the spool
            producer = self._producer
        if producer is None or self._spooling or self._closing:
            self._divert(topic, key, value)  # closing: the thread spools it before it stops
            return
        try:
            producer.produce(topic, value, key)
        except Exception as exc:
            if not isinstance(exc, BufferError):  # BufferError: librdkafka's queue is full
                log.warning("event not queued for %s, spooling it: %s", topic, exc)
            self._last_replay_ok = False
            self._divert(topic, key, value)
            return
        # counted after: for a moment the event is in librdkafka but not here, so
        # `delivered` can only lag (a Prometheus counter must never run ahead).
        # acquire/release: half the cost of a `with` block, and this runs per event
        lock = self._count_lock
        lock.acquire()
        try:
            produced = self._produced = self._produced + 1
        finally:
            lock.release()
        if not produced % _SERVE_EVERY:
            self._served_by_senders += 1
            try:
                producer.poll(0)  # see the module docstring; failures land in _pending, errors in the log
            except Exception:
                log.exception("serving Kafka delivery reports failed")

    def _divert(self, topic: str, key: bytes | None, value: bytes) -> None:
        if not self._spooling:
            self._spooling = True  # later events queue behind it, keeping order
            self._wake.set()
        if self._closed.is_set():
            self.dropped_other += 1
            log.error("event for %s sent after the sink was closed: dropped", topic)
            return
        if len(self._pending) >= self._pending_max:
            self._pending.popleft()
            self.dropped_other += 1
        self._pending.append((topic, key, value))

    # --- background thread --------------------------------------------------

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        # runs inside poll()/flush(), on a sending thread or the background one; failures only
        if error is None:
            return
        with self._count_lock:
            self._failed += 1
            self.delivery_errors += 1
        self._last_replay_ok = False
        if error.code() in _UNREACHABLE:
            self._suspect_down(error.str())
        self._divert(message.topic() or "", message.key(), message.value() or b"")

    def _suspect_down(self, why: str) -> None:
        """A sign Kafka is away; the background thread asks the broker before it says so."""
        if self.kafka.up:
            self._suspected_down = why
            self._wake.set()

    def _mark_fatal(self) -> None:
        self._fatal = True
        self._wake.set()

    def _run(self) -> None:
        clocks = _Clocks()
        try:
            while True:
                try:
                    if self._tick(clocks):
                        break
                except Exception:
                    # the thread is all that moves diverted events to disk and back: it must not end
                    log.exception("producer background thread hit an error; carrying on")
                    self._wake.wait(_TICK_S)
                    if self._closing and time.monotonic() >= self._deadline:
                        break
        finally:
            self._finish()

    def _tick(self, clocks: _Clocks) -> bool:
        """One round of the background thread; True when it is done."""
        producer = self._producer
        if producer is None or clocks.served != self._served_by_senders:
            # senders served the reports since the last tick: polling here too
            # would take the GIL per report from a busy request thread
            clocks.served = self._served_by_senders
            quiet = producer is not None and not (self._spooling or self._closing or self._fatal)
            self._wake.wait(_QUIET_TICK_S if quiet else _TICK_S)
            self._wake.clear()
        elif len(producer) or not self._healthy_and_quiet():
            producer.poll(_TICK_S)
        else:
            # healthy and nothing in librdkafka (len counts queued callbacks too): serve what
            # came since and sleep long. A flush, a close or a diverted event wakes it at
            # once; the failure report of an event sent meanwhile comes after its message
            # timeout (seconds), so it waits at most this much longer
            producer.poll(0)
            self._wake.wait(_QUIET_TICK_S)
            self._wake.clear()
        if self._fatal:
            self._recreate_producer()
        self._write_pending()
        now = time.monotonic()
        if now >= clocks.next_metrics:
            self._publish_metrics()
            clocks.next_metrics = now + 0.5
        if self._closing and (now >= self._deadline or self.waiting() == 0):
            return True
        if producer is not None and self._spooling and now >= clocks.next_probe:
            if not self._replay_oldest_segment():
                if self._closing:
                    return True  # broker down: spool the rest instead of waiting out the deadline
                clocks.next_probe = now + _PROBE_EVERY_S
        elif producer is not None and not self.kafka.up and now >= clocks.next_probe:
            # events wait in librdkafka, not the spool: only a probe can tell Kafka is back
            self._broker_reachable(producer)
            clocks.next_probe = now + _PROBE_EVERY_S
        why, self._suspected_down = self._suspected_down, None
        if why is not None and producer is not None and self.kafka.up:
            self._broker_reachable(producer, why)
        return False

    def _healthy_and_quiet(self) -> bool:
        """Kafka up, nothing diverted, spooled, suspected or closing: the thread has nothing to watch."""
        return (
            not (self._spooling or self._closing or self._fatal or self._pending or self._suspected_down)
            and self.kafka.up
        )

    def _write_pending(self, allow_direct: bool = True) -> None:
        """Move diverted events on: back to Kafka if it is healthy and nothing older waits, else to disk."""
        with self._spool_lock:  # waiting() counts under this lock: an event in our hands is never "gone"
            if allow_direct and self._spooling and not self._spool and self._healthy():
                self._spooling = False  # new sends go direct again; the few diverted ones follow now
                self._errors.reset()
                self._produce_pending()
                return
            if not self._pending:
                return
            batch: list[Record] = []
            while self._pending:
                batch.append(self._pending.popleft())
            if not self._spool_ok:
                self.dropped_other += len(batch)
                return
            try:
                self.dropped_spool_full += self._spool.append(batch)
            except SpoolWriteError as exc:
                self.spooled += exc.written
                self.dropped_other += len(batch) - exc.written
                self._spool_write_failed(exc, len(batch) - exc.written)
                return
            self.spooled += len(batch)
            self._spool_works()

    def _spool_write_failed(self, exc: SpoolWriteError, lost: int) -> None:
        """Counted every time, logged when writes start failing (the host's log is not a disk monitor)."""
        self.spool_write_failures += 1
        if not self._spool_failing:
            self._spool_failing = True
            log.error(
                "writing to the spool %s failed, %d events lost (%s); events Kafka can't take are "
                "dropped until it works again",
                self._spool.dir,
                lost,
                exc.cause,
            )

    def _spool_works(self) -> None:
        if self._spool_failing:
            self._spool_failing = False
            log.warning("writing to the spool %s works again", self._spool.dir)

    def _healthy(self) -> bool:
        """Kafka took the last replay and nothing failed since, so diverted events can skip the disk."""
        return self._producer is not None and not self.config_error and self._last_replay_ok

    def _produce_pending(self) -> None:
        producer = self._producer
        assert producer is not None
        while self._pending:
            topic, key, value = self._pending[0]
            try:
                producer.produce(topic, value, key)
            except Exception:
                self._spooling = True  # queue full again: the rest goes to disk next tick
                self._last_replay_ok = False
                return
            with self._count_lock:
                self._produced += 1
            self._pending.popleft()

    def _broker_reachable(self, producer: Producer, why_down: str | None = None) -> bool:
        """Ask the broker for metadata; whatever it answers (or not) sets :attr:`kafka`."""
        try:
            reachable = bool(producer.list_topics(timeout=_PROBE_TIMEOUT_S).brokers)
        except KafkaException as exc:
            self.kafka.down(why_down or f"no answer to a metadata request: {exc}")
            return False
        if reachable:
            self.kafka.back(self.waiting())
        return reachable

    def _replay_oldest_segment(self) -> bool:
        """Replay one segment in order; False if the broker is down or some events failed again.

        Only failures are reported, so the segment is done when librdkafka holds
        nothing any more: while the spool is not empty, new events are diverted
        to it, so what librdkafka holds is this segment and perhaps a few events
        sent just before the switch. A close that comes first ends the wait at
        its deadline, so the sink still writes what it holds in memory to disk.
        """
        producer = self._producer
        assert producer is not None
        with self._spool_lock:
            if not self._spool_ok or not self._spool:
                return True
        if not self._broker_reachable(producer):
            return False
        with self._spool_lock:
            try:
                oldest = self._spool.oldest()
            except OSError as exc:
                log.error("could not read the spool %s, trying again later: %s", self._spool.dir, exc)
                return False
        if oldest is None:
            return True
        path, records = oldest
        failed = [False] * len(records)
        for i, (topic, key, value) in enumerate(records):
            if i and i % _REPLAY_CHUNK == 0:
                # let the host's own threads have the GIL: a replay must not become an outage of its own
                time.sleep(_REPLAY_PAUSE_S)
            report = functools.partial(self._on_replay_failure, failed, i)
            while True:
                try:
                    producer.produce(topic, value, key, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.1)
            with self._count_lock:
                self._produced += 1
        # a close that begins while this waits still ends at its own deadline
        while len(producer) > 0 and not (self._closing and time.monotonic() >= self._deadline):
            producer.poll(0.1)
        if len(producer) == 0:
            again = [record for record, bad in zip(records, failed, strict=True) if bad]
        else:
            # shutting down with part of the segment in flight: which part Kafka took
            # is unknown (only failures are reported), so all of it stays on disk: a
            # duplicate rather than a loss
            again = records
        if len(again) < len(records):
            with self._spool_lock:
                try:
                    # what failed keeps its place ahead of newer events, written before the old segment goes
                    self.dropped_spool_full += self._spool.requeue(path, again)
                except SpoolWriteError as exc:
                    # the whole segment stays: its delivered part goes again (a duplicate, not a loss)
                    self._spool_write_failed(exc, 0)
                    again = records
                else:
                    if again:
                        self._spool_works()
        delivered = len(records) - len(again)
        self.replayed += delivered
        self._last_replay_ok = not again
        if delivered:
            log.info("replayed %d spooled events (%d still waiting)", delivered, self._spool.events)
        return not again

    def _on_replay_failure(
        self, failed: list[bool], index: int, error: KafkaError | None, _: Message
    ) -> None:
        if error is not None:
            failed[index] = True
            with self._count_lock:
                self._failed += 1

    def _recreate_producer(self) -> None:
        self._fatal = False
        self._spooling = True
        old = self._producer
        if old is not None:
            # a fatal producer delivers nothing more: in-flight events are purged too
            # (Kafka may have some of them: a duplicate rather than a loss)
            old.purge(in_queue=True, in_flight=True)
            old.flush(1.0)  # purged events come back through _on_delivery into the spool
            unknown = len(old)
            if unknown:
                # out of sight once `old` is replaced; never count them as delivered
                with self._count_lock:
                    self._failed += unknown
                log.error("%d events lost track of when the Kafka producer failed", unknown)
        try:
            self._producer = Producer(self._config())
        except KafkaCredentialsError as exc:
            self.config_error = str(exc)

    def _after_fork_in_child(self) -> None:
        """Start over in a forked child: the parent's client, thread, spool slot and queue are the parent's.

        librdkafka's threads do not survive a fork, and destroying the parent's
        client here could wait for them forever; the spool's slot lock and open
        segment belong to the parent too, and closing a copied buffered file
        would write the parent's bytes a second time. So the old objects are
        kept, untouched, and this sink is built afresh: the child's first event
        starts its own client and claims a slot of its own.
        """
        if self._producer is not None or self._thread is not None:
            _left_by_parent.append((self._producer, self._spool))
        self.__init__(self._settings, spool_dir=self._spool_dir_arg)  # type: ignore[misc]

    def stats(self) -> dict[str, int]:
        """Running totals and current depths, as :class:`metrics.SinkMetricsPublisher` reads them."""
        producer = self._producer
        return {
            "delivered": self.delivered,
            "delivery_errors": self.delivery_errors,
            "spooled": self.spooled,
            "replayed": self.replayed,
            "dropped_spool_full": self.dropped_spool_full,
            "dropped_other": self.dropped_other,
            "queue_depth": len(producer) if producer is not None else 0,
            "spool_events": self._spool.events,
            "spool_bytes": self._spool.size_bytes,
            "spool_corrupt": self._spool.corrupt,
            "spool_write_failures": self.spool_write_failures,
            "kafka_up": int(self.kafka.up),
        }

    def _publish_metrics(self) -> None:
        self._metrics.publish(self.stats())

    def _finish(self) -> None:
        producer = self._producer
        if producer is not None and len(producer) > 0:
            producer.purge(in_queue=True, in_flight=False)  # never sent: safe to spool
            producer.flush(1.0)
        self._closed.set()
        self._write_pending(allow_direct=False)  # nobody polls after this: disk only
        self._publish_metrics()
        with self._spool_lock:
            self.left_on_disk = self._spool.events
            if self.left_on_disk:
                log.warning(
                    "%d events stay in the spool %s for the next start", self.left_on_disk, self._spool.dir
                )
            self._spool.close()
            self._spool_ok = False


os.register_at_fork(after_in_child=_after_fork_in_child)
