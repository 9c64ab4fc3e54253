"""One batch of messages through decode, detection and persistence (no Faust here).

The worker hands each batch to these classes with the table that holds
detection state; anything dict-like works, so benchmarks and tests drive the
same code without a broker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from failstream.events import Alert, DeadLetter, EmailEvent, FailedRequest
from failstream.events import now_ms as wall_ms
from failstream.settings import StreamSettings
from failstream.stream_app.buffered_states import BufferedStates
from failstream.stream_app.decode import E, decode
from failstream.stream_app.detection.alert import to_alert
from failstream.stream_app.detection.email_rule import EmailState
from failstream.stream_app.detection.ip_detector import IpDetector, IpState
from failstream.stream_app.detection.notification import Notification
from failstream.stream_app.detection.rules import SPIKE_RULE, DetectionRules
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.mongo.client import Db
from failstream.stream_app.mongo.dead_letters import store_dead_letters
from failstream.stream_app.mongo.emails import persist_email_counts
from failstream.stream_app.mongo.failures import MinuteTotal, Read


class KafkaRecord(Protocol):
    """What processing reads of a Kafka message (a Faust ``Message`` or an aiokafka record)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class Record:
    """The parts of a Kafka message that processing reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def decode_record(model: type[E], r: KafkaRecord) -> E | DeadLetter:
    """The record's event, or the dead letter saying why it is none."""
    return decode(model, topic=r.topic, partition=r.partition, offset=r.offset, key=r.key, value=r.value)


@dataclass
class Decoded:
    reads: list[Read] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    letters: list[tuple[bytes | None, DeadLetter]] = field(default_factory=list)


@dataclass
class EmailBatch:
    alerts: list[Alert] = field(default_factory=list)
    letters: list[tuple[bytes | None, DeadLetter]] = field(default_factory=list)
    reads: list[tuple[EmailEvent, int, int]] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    states: dict[bytes, bytes] = field(default_factory=dict)


def spike_notification(total: MinuteTotal, threshold: int) -> Notification | None:
    """A ``global-spike`` alert when this update took a minute's total across the threshold.

    A replayed minute over the threshold fires again: the batch that crossed
    it may have been stored and then cut off before its alert was published.
    The alert key is the minute's, so a copy of a published alert is dropped
    downstream like any re-delivery.
    """
    crossed = total.before < threshold <= total.after
    if not (crossed or (total.replayed and total.after >= threshold)):
        return None
    return Notification(
        rule=SPIKE_RULE,
        subject="all",
        state="firing",
        alert_key=f"{SPIKE_RULE}:all:{total.minute}",
        episode_start=total.minute,
        count=total.after,
        threshold=threshold,
        window_s=60,
        first_seen=total.minute,
        last_seen=total.minute + 59_999,
    )


class FailureBatches:
    """Failures through decode, detection and persistence.

    Detection states live in ``states``: the worker flushes them to its Faust
    table (and so to the changelog) between batches and acks the batches'
    messages only after that flush.
    """

    def __init__(
        self,
        settings: StreamSettings,
        table: MutableMapping[bytes, bytes],
        db: Db | None,
        live: LiveCountsAccumulator,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.rules = DetectionRules.from_settings(settings)
        self.detector = IpDetector(self.rules)
        self.states: BufferedStates[IpState] = BufferedStates(table, IpState.decode, IpState.encode)
        self.db = db
        self.live = live
        self._clock = clock
        # per key, how far behind the wall clock its newest event was when it was last
        # applied: a backlog replayed after an outage or a restart is that far behind
        self._behind_ms: dict[bytes, int] = {}

    def decode(self, records: Sequence[KafkaRecord], *, count_live: bool = True) -> Decoded:
        out = Decoded()
        reads, keys = out.reads, out.keys
        for r in records:
            result = decode_record(FailedRequest, r)
            if isinstance(result, DeadLetter):
                out.letters.append((r.key, result))
            else:
                reads.append(Read(result, r.partition, r.offset))
                keys.append(r.key or result.ip.encode())
        if count_live:
            self.live.add_failures([read.event for read in reads])
        return out

    def detect(self, decoded: Decoded) -> list[Alert]:
        """Run detection per IP; return the alerts. The states change in ``states`` only.

        The caller publishes the alerts before the next flush of ``states``:
        a crash in between replays the batch onto the last flushed states and
        re-sends the same alert keys (dropped as already published), where
        storing first could lose an alert whose state already says it was sent.
        The key is the message key, so the state of a key stays on its
        partition (and its changelog partition) whatever the event says.
        """
        by_key: dict[bytes, list[Read]] = defaultdict(list)
        for key, read in zip(decoded.keys, decoded.reads, strict=True):
            by_key[key].append(read)
        notes: list[Notification] = []
        observe = self.detector.observe
        now = self._clock()
        behind = self._behind_ms
        for key, reads in by_key.items():
            state = self.states.get(key)
            for r in reads:
                notes += observe(state, r.event, r.offset)
            self.states.put(key, state)
            # an allowlisted IP's state holds no event time: no lag to keep it from being forgotten
            behind[key] = max(0, now - state.ip.max_ts) if state.ip.max_ts >= 0 else 0
        return [to_alert(n) for n in notes]

    def sweep(self, now_ms: int) -> list[Alert]:
        """Resolve episodes quiet for window + grace; forget idle IPs.

        "Quiet" is measured from when a key's newest event was applied, not
        from its event time alone: while a backlog is replayed its events are
        minutes old, and a wall-clock sweep between two batches of one burst
        would forget (or resolve) the first half and so lose the window.

        Like ``detect``, this changes ``states`` only: publish the alerts before flushing them.
        """
        notes: list[Notification] = []
        behind = self._behind_ms
        kept: dict[bytes, int] = {}
        for key, state in self.states.items():
            lag = behind.get(key, 0)
            found, forget = self.detector.sweep(state, key.decode(errors="replace"), now_ms - lag)
            notes += found
            if forget:
                self.states.delete(key)
                continue
            if found:
                self.states.put(key, state)
            if lag:
                kept[key] = lag
        self._behind_ms = kept  # keys handed over in a rebalance leave with the sweep
        return [to_alert(n) for n in notes]


class EmailBatches:
    def __init__(
        self,
        settings: StreamSettings,
        table: MutableMapping[bytes, bytes],
        db: Db | None,
        live: LiveCountsAccumulator,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.rule = DetectionRules.from_settings(settings).email
        self.table = table
        self.db = db
        self.live = live
        self._clock = clock
        # as for failures: how far behind the wall clock each domain's newest event was when applied
        self._behind_ms: dict[bytes, int] = {}

    def decode(self, records: Sequence[KafkaRecord], *, count_live: bool = True) -> EmailBatch:
        batch = EmailBatch()
        for r in records:
            result = decode_record(EmailEvent, r)
            if isinstance(result, DeadLetter):
                batch.letters.append((r.key, result))
                continue
            if count_live:
                self.live.add_email(result)
            batch.reads.append((result, r.partition, r.offset))
            batch.keys.append(r.key or result.recipient_domain.encode())
        return batch

    def detect(self, records: Sequence[KafkaRecord]) -> EmailBatch:
        """Decode and detect; like the failures, states are stored after the alerts are out."""
        batch = self.decode(records)
        by_key: dict[bytes, list[tuple[EmailEvent, int]]] = defaultdict(list)
        for key, (event, _, offset) in zip(batch.keys, batch.reads, strict=True):
            by_key[key].append((event, offset))
        notes: list[Notification] = []
        now = self._clock()
        for key, events in by_key.items():
            raw = self.table.get(key)
            state = EmailState.from_json(orjson.loads(raw)) if raw else EmailState()
            for event, offset in events:
                if offset <= state.offset:
                    continue
                state.offset = offset
                notes += self.rule.observe(
                    state, event.recipient_domain, event.ts, event.status, event.service, event.event_id
                )
            batch.states[key] = bytes(memoryview(orjson.dumps(state.to_json())))
            self._behind_ms[key] = max(0, now - state.max_ts) if state.max_ts >= 0 else 0
        batch.alerts = [to_alert(n) for n in notes]
        return batch

    def store(self, states: dict[bytes, bytes]) -> None:
        for key, raw in states.items():
            self.table[key] = raw

    async def persist(self, batch: EmailBatch) -> None:
        if self.db is not None:
            await store_dead_letters(self.db, [letter for _, letter in batch.letters])
            await persist_email_counts(self.db, batch.reads)

    def sweep(self, now_ms: int) -> tuple[list[Alert], dict[bytes, bytes | None]]:
        """Resolve quiet episodes and forget idle domains, quiet measured from when last applied.

        As for failures (``FailureBatches.sweep``): a backlog of email events
        replayed after an outage is minutes old, and a wall-clock sweep between
        two of its batches would resolve or forget the window half-way.
        """
        notes: list[Notification] = []
        changes: dict[bytes, bytes | None] = {}
        behind = self._behind_ms
        kept: dict[bytes, int] = {}
        for key, raw in list(self.table.items()):
            state = EmailState.from_json(orjson.loads(raw))
            lag = behind.get(key, 0)
            found = self.rule.expire(state, key.decode(errors="replace"), now_ms - lag)
            notes += found
            if self.rule.forgettable(state, now_ms - lag):
                changes[key] = None
                continue
            if found:
                changes[key] = orjson.dumps(state.to_json())
            if lag:
                kept[key] = lag
        self._behind_ms = kept  # keys handed over in a rebalance leave with the sweep
        return [to_alert(n) for n in notes], changes

    def apply(self, changes: dict[bytes, bytes | None]) -> None:
        for key, raw in changes.items():
            if raw is None:
                self.table.pop(key, None)
            else:
                self.table[key] = raw
