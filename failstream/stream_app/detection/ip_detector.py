"""Everything detection keeps per client IP, and how one failure updates it.

The state of one IP is stored as compact JSON bytes (a Faust table value and
its changelog record are the same bytes), holding the ``ip-failures`` state,
the ``ip-route-failures`` state of each route that has candidates or an
episode, the last source offset applied and hashes of recent event ids.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import orjson

from failstream.events import FailedRequest
from failstream.stream_app.detection.notification import Notification
from failstream.stream_app.detection.rules import DetectionRules
from failstream.stream_app.detection.threshold_rule import ThresholdState

#: Recent event ids remembered per IP (32-bit hashes) to drop a producer's re-sent duplicate.
RECENT_IDS = 4


def id_hash(event_id: str) -> int:
    """CRC-32: stable across processes (the hashes are stored), and a tenth of blake2b's cost.

    Not a defence against crafted ids: two of an IP's four most recent ids
    colliding only drops one event from detection, never from the counts.
    """
    return zlib.crc32(event_id.encode())


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
        self._ip_rule = rules.ip
        self._route_rule = rules.ip_route
        self._allowlist = rules.allowlist

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
        recent = state.recent
        if digest in recent:
            return []
        recent.append(digest)
        if len(recent) > RECENT_IDS:
            del recent[0]
        ip, ts = event.ip, event.ts
        if ip in self._allowlist or event.reason == "blocked":
            return []  # a refused request (decision enforcement) must not keep its own decision alive
        out = self._ip_rule.observe(state.ip, ip, ts, event.reason, event.route, event.service)
        route = f"{event.method} {event.route}"
        route_state = state.routes.get(route)
        if route_state is None:
            route_state = state.routes[route] = ThresholdState()
        # the route rule keeps no labels: its subject names the route, and
        # the per-IP rule already carries reasons and services
        out += self._route_rule.observe(route_state, f"{ip} {route}", ts, "", "", "")
        if route_state.is_idle():
            del state.routes[route]
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
