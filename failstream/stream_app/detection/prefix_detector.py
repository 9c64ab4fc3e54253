"""Everything detection keeps per network prefix, and how one forwarded failure updates it.

A prefix's failures come from every partition of ``failed-requests``, so the
state keeps the last source offset applied per source partition: a failure
forwarded again after a crash or a rebalance is at or below it and changes
nothing (docs/address-rotation.md says why that is exact). A copy the
producer published again (new offset, same event id) is recognised by its
id, remembered while the rule could still accept a copy (as for IPs,
``ip_detector``). Stored as compact JSON bytes, like the per-IP state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from failstream.stream_app.detection.counted_ids import AppliedIds
from failstream.stream_app.detection.notification import Notification
from failstream.stream_app.detection.prefix_forward import ForwardedFailure
from failstream.stream_app.detection.threshold_rule import ThresholdRule, ThresholdState


@dataclass
class PrefixState:
    #: source partition (as text: JSON keys are) -> the last source offset applied from it
    offsets: dict[str, int] = field(default_factory=dict)
    rule: ThresholdState = field(default_factory=ThresholdState)
    #: the event ids applied: a producer's re-sent copy has a new offset, not a new id
    applied: AppliedIds = field(default_factory=AppliedIds)
    #: the ``rule.max_ts`` from which the next forgetting pass is due (not stored; as for IPs)
    forget_at: int = 0

    def encode(self) -> bytes:
        hashes, ages = self.applied.to_lists(self.rule.max_ts // 1000)
        # a copy: orjson hands back its whole write buffer
        return bytes(memoryview(orjson.dumps([self.offsets, self.rule.to_json(), hashes, ages])))

    @classmethod
    def decode(cls, raw: bytes | None) -> PrefixState:
        if not raw:
            return cls()
        # a state written before ids were kept by second has three items, its last four hashes
        offsets, rule, hashes, *ages = orjson.loads(raw)
        state = ThresholdState.from_json(rule)
        second = state.max_ts // 1000
        return cls(offsets, state, AppliedIds.from_lists(hashes, ages, second), (second + 1) * 1000)


class PrefixDetector:
    def __init__(self, rule: ThresholdRule) -> None:
        self.rule = rule

    def observe(
        self, state: PrefixState, prefix: str, partition: int, failure: ForwardedFailure
    ) -> list[Notification]:
        """Apply one failure forwarded from ``partition`` of ``failed-requests``."""
        source = str(partition)
        if failure.offset <= state.offsets.get(source, -1):
            return []
        state.offsets[source] = failure.offset
        if not state.applied.add(failure.id_hash, failure.ts // 1000):
            return []
        rule = self.rule
        out = rule.observe(state.rule, prefix, failure.ts, failure.reason, failure.route, failure.service)
        max_ts = state.rule.max_ts
        if max_ts >= state.forget_at:
            # a copy older than the newest minus grace is refused as too late anyway
            oldest = state.applied.forget_before(max_ts - rule.grace_ms)
            due = max_ts + 1000
            if oldest is not None:
                due = max(due, (oldest + 1) * 1000 + rule.grace_ms)
            state.forget_at = due
        return out

    def sweep(self, state: PrefixState, prefix: str, now_ms: int) -> tuple[list[Notification], bool]:
        """Resolve a quiet episode; return the notifications and whether the state can go."""
        out = self.rule.expire(state.rule, prefix, now_ms)
        return out, self.rule.forgettable(state.rule, now_ms)
