"""Everything detection keeps per client IP, and how one failure updates it.

The state of one IP is stored as compact JSON bytes (a Faust table value and
its changelog record are the same bytes), holding the ``ip-failures`` state,
the ``ip-route-failures`` state of each route that has candidates or an
episode, the last source offset applied and hashes of recent event ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from producer.events import FailedRequest
from stream_app.detection.notification import Notification
from stream_app.detection.rules import DetectionRules
from stream_app.detection.threshold_rule import ThresholdState

#: Recent event ids remembered per IP (32-bit hashes) to drop a producer's re-sent duplicate.
RECENT_IDS = 4


def id_hash(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=4).digest(), "big")


@dataclass
class IpState:
    offset: int = -1
    ip: ThresholdState = field(default_factory=ThresholdState)
    routes: dict[str, ThresholdState] = field(default_factory=dict)
    recent: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        raw = orjson.dumps(
            [self.offset, self.ip.to_json(), {r: s.to_json() for r, s in self.routes.items()}, self.recent]
        )
        # orjson hands back its whole 4 KiB write buffer; a copy is the exact size
        return bytes(memoryview(raw))

    @classmethod
    def decode(cls, raw: bytes | None) -> IpState:
        if not raw:
            return cls()
        offset, ip, routes, recent = orjson.loads(raw)
        return cls(
            offset,
            ThresholdState.from_json(ip),
            {r: ThresholdState.from_json(s) for r, s in routes.items()},
            recent,
        )


@dataclass(frozen=True)
class Failure:
    """The fields of a FailedRequest that detection reads."""

    event_id: str
    ts: int
    ip: str
    method: str
    route: str
    reason: str
    service: str


class IpDetector:
    def __init__(self, rules: DetectionRules) -> None:
        self.rules = rules

    def observe(self, state: IpState, event: Failure | FailedRequest, offset: int) -> list[Notification]:
        """Apply one failure read at ``offset`` of the IP's partition.

        A message at or below the last applied offset is a redelivery after a
        crash or rebalance and changes nothing; so does an event id seen
        recently (the producer re-sent it).
        """
        if offset <= state.offset:
            return []
        state.offset = offset
        digest = id_hash(event.event_id)
        if digest in state.recent:
            return []
        state.recent = [*state.recent[-(RECENT_IDS - 1) :], digest]
        if event.ip in self.rules.allowlist:
            return []
        out = self.rules.ip.observe(state.ip, event.ip, event.ts, event.reason, event.route, event.service)
        route = f"{event.method} {event.route}"
        route_state = state.routes.get(route) or ThresholdState()
        # the route rule keeps no labels: its subject names the route, and
        # the per-IP rule already carries reasons and services
        out += self.rules.ip_route.observe(route_state, f"{event.ip} {route}", event.ts, "", "", "")
        if route_state.is_idle():
            state.routes.pop(route, None)
        else:
            state.routes[route] = route_state
        return out

    def sweep(self, state: IpState, ip: str, now_ms: int) -> tuple[list[Notification], bool]:
        """Resolve quiet episodes; return the notifications and whether the state can go."""
        out = self.rules.ip.expire(state.ip, ip, now_ms)
        for route, route_state in list(state.routes.items()):
            out += self.rules.ip_route.expire(route_state, f"{ip} {route}", now_ms)
            if self.rules.ip_route.forgettable(route_state, now_ms):
                del state.routes[route]
        forget = not state.routes and self.rules.ip.forgettable(state.ip, now_ms)
        return out, forget
