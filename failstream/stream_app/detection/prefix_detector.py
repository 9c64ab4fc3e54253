"""Everything detection keeps per network prefix, and how one forwarded failure updates it.

A prefix's failures come from every partition of ``failed-requests``, so the
state keeps the last source offset applied per source partition: a failure
forwarded again after a crash or a rebalance is at or below it and changes
nothing (docs/address-rotation.md says why that is exact). Stored as compact
JSON bytes, like the per-IP state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from failstream.stream_app.detection.ip_detector import RECENT_IDS
from failstream.stream_app.detection.notification import Notification
from failstream.stream_app.detection.prefix_forward import ForwardedFailure
from failstream.stream_app.detection.threshold_rule import ThresholdRule, ThresholdState


@dataclass
class PrefixState:
    #: source partition (as text: JSON keys are) -> the last source offset applied from it
    offsets: dict[str, int] = field(default_factory=dict)
    rule: ThresholdState = field(default_factory=ThresholdState)
    #: hashes of recent event ids: a producer's re-sent duplicate has a new offset, not a new id
    recent: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        # a copy: orjson hands back its whole write buffer
        return bytes(memoryview(orjson.dumps([self.offsets, self.rule.to_json(), self.recent])))

    @classmethod
    def decode(cls, raw: bytes | None) -> PrefixState:
        if not raw:
            return cls()
        offsets, rule, recent = orjson.loads(raw)
        return cls(offsets, ThresholdState.from_json(rule), recent)


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
        recent = state.recent
        if failure.id_hash in recent:
            return []
        recent.append(failure.id_hash)
        if len(recent) > RECENT_IDS:
            del recent[0]
        return self.rule.observe(
            state.rule, prefix, failure.ts, failure.reason, failure.route, failure.service
        )

    def sweep(self, state: PrefixState, prefix: str, now_ms: int) -> tuple[list[Notification], bool]:
        """Resolve a quiet episode; return the notifications and whether the state can go."""
        out = self.rule.expire(state.rule, prefix, now_ms)
        return out, self.rule.forgettable(state.rule, now_ms)
