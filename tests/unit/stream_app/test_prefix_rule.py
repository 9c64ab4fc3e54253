"""The prefix-failures rule on the worker's own batch code, with no broker.

Failures are decoded as the worker decodes them, forwarded as it forwards
them (``forwarded_records``) and read back by ``PrefixBatches``, so what is
checked here is the whole pure path from a ``failed-requests`` message to an
alert about a prefix.
"""

from __future__ import annotations

import random
import zlib

import pytest

from failstream.events import failed_request_json
from failstream.settings import Settings
from failstream.stream_app.detection import prefix_forward
from failstream.stream_app.detection.prefix_batches import PrefixBatches
from failstream.stream_app.detection.prefix_detector import PrefixDetector, PrefixState
from failstream.stream_app.detection.prefix_forward import ForwardedFailure, forwarded_records, read_record
from failstream.stream_app.detection.prefixes import AddressPrefixes
from failstream.stream_app.detection.rules import PREFIX_RULE, DetectionRules
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.processing import FailureBatches, Record
from tests.unit.stream_app.oracle import Expected, threshold_oracle

T0 = 1_700_000_000_000


def partition_of(key: bytes) -> int:
    """A stand-in for the prefix table's partition (the worker's murmur2) over 4 partitions."""
    return zlib.crc32(key) % 4


MIN = 60_000


def settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[arg-type]


def message(
    n: int, ip: str, ts: int, partition: int = 0, event_id: str | None = None, reason: str = "invalid_token"
) -> Record:
    value = failed_request_json(
        event_id=event_id or f"e{n}",
        ts=ts,
        service="shop",
        ip=ip,
        method="POST",
        route="/login",
        status=429 if reason == "blocked" else 401,
        reason=reason,
        user_agent="",
        request_id="",
    )
    return Record("failed-requests", partition, n, ip.encode(), value)


class Pipeline:
    """FailureBatches.decode -> forwarded_records -> PrefixBatches, as the worker wires them."""

    def __init__(self, s: Settings, now: int = T0) -> None:
        self.now = now
        self.settings = s
        self.failures = FailureBatches(s, {}, None, LiveCountsAccumulator(), clock=lambda: self.now)
        self.prefixes = PrefixBatches(s, {}, clock=lambda: self.now)
        self.topic: list[bytes] = []  # the repartition topic, all partitions

    def forward(self, messages: list[Record]) -> list[bytes]:
        """The records of the batch, round after round, as the worker sends them."""
        decoded = self.failures.decode(messages, count_live=False)
        prefixes = AddressPrefixes.from_settings(self.settings)
        rounds = forwarded_records(decoded.reads, prefixes, self.failures.rules.allowlist, partition_of)
        records = [value for records in rounds for _, value in records]
        self.topic += records
        return records

    def consume(self, records: list[bytes]) -> list[tuple[str, str, str]]:
        batch = [Record("repartition", 0, i, None, value) for i, value in enumerate(records)]
        alerts, changes = self.prefixes.detect(batch)
        self.prefixes.apply(changes)
        return [(a.rule, a.subject, a.state) for a in alerts]

    def run(self, messages: list[Record]) -> list[tuple[str, str, str]]:
        return self.consume(self.forward(messages))


def test_rotation_inside_one_64_alerts_once_with_the_prefix_as_subject() -> None:
    pipe = Pipeline(settings())
    messages = [message(i, f"2001:db8:1:2::{i + 1:x}", T0 + i * 1000, partition=i % 4) for i in range(30)]
    assert pipe.run(messages) == [(PREFIX_RULE, "2001:db8:1:2::/64", "firing")]


def test_the_same_traffic_spread_over_distinct_64s_does_not_alert() -> None:
    pipe = Pipeline(settings())
    messages = [message(i, f"2001:db8:1:{i:x}::1", T0 + i * 1000, partition=i % 4) for i in range(30)]
    assert pipe.run(messages) == []
    assert len(pipe.prefixes.table) == 30


def test_the_alert_counts_the_prefix_failures_and_their_labels() -> None:
    pipe = Pipeline(settings(rule_prefix_threshold=3))
    alerts, _ = pipe.prefixes.detect(
        [
            Record("r", 0, 0, None, value)
            for value in pipe.forward([message(i, f"2001:db8::{i + 1}", T0 + i) for i in range(3)])
        ]
    )
    [alert] = alerts
    assert (alert.count, alert.threshold, alert.window_s) == (3, 3, 600)
    assert (alert.reasons, alert.routes, alert.services) == ({"invalid_token": 3}, {"/login": 3}, {"shop": 3})
    assert alert.alert_key == f"{PREFIX_RULE}:2001:db8::/64:{T0}"


def test_ipv4_counts_per_24_only_when_aggregation_is_on() -> None:
    messages = [message(i, f"198.51.100.{i + 1}", T0 + i * 1000) for i in range(12)]
    assert Pipeline(settings()).forward(messages) == []
    assert Pipeline(settings(rule_prefix_ipv4_length=24)).run(messages) == [
        (PREFIX_RULE, "198.51.100.0/24", "firing")
    ]


def test_allowlisted_addresses_are_not_forwarded() -> None:
    pipe = Pipeline(settings(allowlist="2001:db8:1:2::/112"))
    messages = [message(i, f"2001:db8:1:2::{i + 1:x}", T0 + i) for i in range(30)]
    assert pipe.run(messages) == []


def test_requests_refused_by_a_decision_are_not_forwarded() -> None:
    pipe = Pipeline(settings())
    messages = [message(i, f"2001:db8:1:2::{i + 1:x}", T0 + i, reason="blocked") for i in range(30)]
    assert pipe.forward(messages) == []


def test_a_replayed_batch_forwarded_again_changes_nothing() -> None:
    """A worker that crashed after forwarding, before its acks were committed, forwards the batch again."""
    pipe = Pipeline(settings())
    first = [message(i, f"2001:db8::{i + 1}", T0 + i * 1000, partition=i % 3) for i in range(9)]
    assert pipe.run(first) == []
    before = dict(pipe.prefixes.table)
    assert pipe.run(first) == []  # a 10th would fire; 18 counted would have fired already
    assert pipe.prefixes.table == before
    assert pipe.run([message(9, "2001:db8::ff", T0 + 9000, partition=1)]) == [
        (PREFIX_RULE, "2001:db8::/64", "firing")
    ]


def test_a_producer_re_send_at_a_new_offset_is_not_counted_twice() -> None:
    pipe = Pipeline(settings(rule_prefix_threshold=3))
    twice = [message(0, "2001:db8::1", T0, event_id="same"), message(1, "2001:db8::2", T0, event_id="same")]
    assert pipe.run(twice) == []
    assert pipe.run([message(2, "2001:db8::3", T0 + 1)]) == []


def test_offsets_are_watermarked_per_source_partition() -> None:
    """Low offsets of one partition are new even after high offsets of another."""
    pipe = Pipeline(settings(rule_prefix_threshold=4))
    assert pipe.run([message(100, "2001:db8::1", T0, partition=0), message(101, "2001:db8::2", T0, 0)]) == []
    assert pipe.run([message(1, "2001:db8::3", T0, partition=1)]) == []
    assert pipe.run([message(2, "2001:db8::4", T0, partition=1)]) == [
        (PREFIX_RULE, "2001:db8::/64", "firing")
    ]


def test_a_quiet_prefix_resolves_and_is_forgotten_by_the_sweep() -> None:
    pipe = Pipeline(settings())
    assert pipe.run([message(i, f"2001:db8::{i + 1}", T0 + i, partition=0) for i in range(10)]) != []
    alerts, changes = pipe.prefixes.sweep(T0 + 10 * MIN)
    assert alerts == [] and changes == {}  # not quiet for window + grace yet
    alerts, changes = pipe.prefixes.sweep(T0 + 12 * MIN)
    assert [(a.state, a.subject) for a in alerts] == [("resolved", "2001:db8::/64")]
    pipe.prefixes.apply(changes)
    alerts, changes = pipe.prefixes.sweep(T0 + 12 * MIN)
    pipe.prefixes.apply(changes)
    assert alerts == [] and pipe.prefixes.table == {}


def test_a_batch_is_a_record_per_repartition_partition_with_each_pair_in_offset_order() -> None:
    pipe = Pipeline(settings())
    messages = [
        message(7, "2001:db8::1", T0, partition=0),
        message(3, "2001:db8::2", T0, partition=1),
        message(5, "2001:db8::3", T0, partition=0),
        message(11, "10.0.0.1", T0, partition=0),
    ] + [message(100 + k, f"2001:db8:1:{k:x}::1", T0, partition=k % 4) for k in range(200)]
    decoded = pipe.failures.decode(messages, count_live=False)
    [records] = forwarded_records(
        decoded.reads, AddressPrefixes(), pipe.failures.rules.allowlist, partition_of
    )
    assert sorted(partition for partition, _ in records) == [0, 1, 2, 3]  # 201 /64s, 4 records
    groups = {
        (prefix, source): [f.offset for f in failures]
        for _, value in records
        for prefix, source, failures in read_record(value)
    }
    assert len(groups) == 202
    assert (groups[("2001:db8::/64", 0)], groups[("2001:db8::/64", 1)]) == ([5, 7], [3])
    for target, value in records:
        assert {partition_of(prefix.encode()) for prefix, _, _ in read_record(value)} == {target}


def test_a_pair_bigger_than_a_record_is_split_over_successive_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two parts of one (prefix, source partition) are never in flight together: a re-send reorders."""
    monkeypatch.setattr(prefix_forward, "MAX_RECORD_BYTES", 1_000)
    pipe = Pipeline(settings(rule_prefix_threshold=40))
    flood = [message(i, f"2001:db8::{i + 1:x}", T0 + i, partition=0) for i in range(40)]
    flood += [message(100 + i, "2001:db8:0:1::1", T0, partition=1) for i in range(2)]
    decoded = pipe.failures.decode(flood, count_live=False)
    rounds = forwarded_records(decoded.reads, AddressPrefixes(), pipe.failures.rules.allowlist, partition_of)
    assert len(rounds) > 2
    offsets = []
    for records in rounds:
        pairs = [(prefix, source) for _, value in records for prefix, source, _ in read_record(value)]
        assert len(pairs) == len(set(pairs))
        offsets += [
            f.offset
            for _, value in records
            for p, _, fs in read_record(value)
            if p == "2001:db8::/64"
            for f in fs
        ]
    assert offsets == list(range(40))
    assert pipe.consume([value for records in rounds for _, value in records]) == [
        (PREFIX_RULE, "2001:db8::/64", "firing")
    ]


def test_a_record_that_is_not_forwarded_failures_is_skipped_not_fatal() -> None:
    pipe = Pipeline(settings())
    [good] = pipe.forward([message(0, "2001:db8::1", T0)])
    batch = [
        Record("r", 0, 0, None, b"{oops"),
        Record("r", 0, 1, None, b"[[1, 2]]"),
        Record("r", 0, 2, None, good),
    ]
    alerts, changes = pipe.prefixes.detect(batch)
    assert alerts == [] and list(changes) == [b"2001:db8::/64"]


def replayed_trace(seed: int, detector: PrefixDetector) -> tuple[set[Expected], dict[str, list[int]]]:
    """The alerts of a random trace delivered with replays, and each prefix's event times once each."""
    rng = random.Random(seed)
    sent: dict[int, list[tuple[str, ForwardedFailure]]] = {p: [] for p in range(3)}  # per source partition
    applied: dict[str, list[int]] = {}
    stored: dict[str, bytes] = {}
    got: set[Expected] = set()

    def deliver(prefix: str, partition: int, failure: ForwardedFailure) -> None:
        state = PrefixState.decode(stored.get(prefix))  # through bytes, as the table keeps it
        for n in detector.observe(state, prefix, partition, failure):
            got.add(Expected(n.alert_key, n.state, n.count))
        stored[prefix] = state.encode()

    ts = T0
    for _ in range(400):
        prefix = rng.choice(["2001:db8::/64", "2001:db8:0:1::/64"])
        partition = rng.randrange(3)
        ts += rng.choice([1000, 20_000, 90_000, 4 * MIN])
        late = ts - rng.randrange(0, 2 * MIN) if rng.random() < 0.2 else ts
        failure = ForwardedFailure(len(sent[partition]), late, "ip", "other", "/", "s", rng.getrandbits(32))
        sent[partition].append((prefix, failure))
        applied.setdefault(prefix, []).append(late)
        deliver(prefix, partition, failure)
        if rng.random() < 0.05:  # a new owner of the partition forwards its last few failures again
            for again in sent[partition][-rng.randint(1, 12) :]:
                deliver(again[0], partition, again[1])
    return got, applied


def test_replayed_forwards_give_exactly_the_oracles_alerts() -> None:
    """Random failures of two prefixes from three partitions, replayed after "crashes"."""
    rule = DetectionRules.from_settings(settings(rule_prefix_threshold=4, repeat_interval_s=900)).prefix
    kinds: set[str] = set()
    for seed in range(20):
        got, applied = replayed_trace(seed, PrefixDetector(rule))
        want = {
            e
            for prefix, times in applied.items()
            for e in threshold_oracle(
                PREFIX_RULE, prefix, times, rule.threshold, rule.window_ms, rule.grace_ms, rule.repeat_ms
            )
        }
        assert got == want, seed
        kinds |= {e.state for e in want}
    assert kinds == {"firing", "renotify", "resolved"}  # the traces reach every kind of notification
