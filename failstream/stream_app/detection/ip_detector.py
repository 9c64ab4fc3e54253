"""Everything detection keeps per client IP, and how one failure updates it.

The state of one IP is stored as compact JSON bytes (a Faust table value and
its changelog record are the same bytes), holding the ``ip-failures`` state,
the ``ip-route-failures`` state of each route that has candidates or an
episode, the last source offset applied and the hashes of the event ids
applied while a copy of one could still be accepted.

Why the ids: the capture spool can publish a segment again (a replay cut
short by a shutdown, a failed requeue write, a producer recreated after a
fatal error); each copy sits at a new offset, which the offset guard lets
through, with its original's ``event_id`` and ``ts``. A rule accepts an
event no older than its state's newest minus ``grace``, so an id is kept
while its second is not wholly before the oldest such bound among the IP's
state and its live route states; a copy is then recognised however many
failures came between.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import orjson

from failstream.events import FailedRequest
from failstream.stream_app.detection.counted_ids import AppliedIds
from failstream.stream_app.detection.notification import Notification
from failstream.stream_app.detection.rules import DetectionRules
from failstream.stream_app.detection.threshold_rule import ThresholdState


def id_hash(event_id: str) -> int:
    """CRC-32: stable across processes (the hashes are stored), and a tenth of blake2b's cost.

    Not a defence against crafted ids: two colliding ids of one IP only drop
    one event from detection, never from the counts.
    """
    return zlib.crc32(event_id.encode())


@dataclass
class IpState:
    offset: int = -1
    ip: ThresholdState = field(default_factory=ThresholdState)
    routes: dict[str, ThresholdState] = field(default_factory=dict)
    applied: AppliedIds = field(default_factory=AppliedIds)
    #: the ``ip.max_ts`` from which the next forgetting pass is due. Not stored: decoded, it is
    #: the next second, so a state read for one event of a second it has seen pays no pass (a
    #: pass later than due only keeps ids longer; one earlier could not find more to drop)
    forget_at: int = 0

    def encode(self) -> bytes:
        hashes, ages = self.applied.to_lists(self.ip.max_ts // 1000)
        raw = orjson.dumps(
            [self.offset, self.ip.to_json(), {r: s.to_json() for r, s in self.routes.items()}, hashes, ages]
        )
        # orjson hands back its whole 4 KiB write buffer; a copy is the exact size
        return bytes(memoryview(raw))

    @classmethod
    def decode(cls, raw: bytes | None) -> IpState:
        if not raw:
            return cls()
        # a state written before ids were kept by second has four items, its last four hashes
        offset, ip, routes, hashes, *ages = orjson.loads(raw)
        state = ThresholdState.from_json(ip)
        second = state.max_ts // 1000
        return cls(
            offset,
            state,
            {r: ThresholdState.from_json(s) for r, s in routes.items()},
            AppliedIds.from_lists(hashes, ages, second),
            (second + 1) * 1000,
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
        crash or rebalance and changes nothing; so does an event id already
        applied (a copy the producer published again at a new offset).
        """
        if offset <= state.offset:
            return []
        state.offset = offset
        ip, ts = event.ip, event.ts
        if ip in self._allowlist or event.reason == "blocked":
            return []  # a refused request (decision enforcement) must not keep its own decision alive
        if not state.applied.add(id_hash(event.event_id), ts // 1000):
            return []
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
        if state.ip.max_ts >= state.forget_at:
            self._forget(state)
        return out

    def _forget(self, state: IpState) -> None:
        """Drop the ids no rule of this IP could accept a copy of any more.

        The bound is the oldest of the IP's and its live routes' acceptance
        bounds (newest minus grace): a route's newest can lag far behind the
        IP's. The next pass is due once the IP's newest has moved on enough
        for its own bound to pass the oldest id left, and no sooner than a
        second on, so an IP held back by a quiet route pays one pass a second.
        """
        ip_max = state.ip.max_ts
        bound = ip_max - self._ip_rule.grace_ms
        route_grace = self._route_rule.grace_ms
        for route_state in state.routes.values():
            if route_state.max_ts - route_grace < bound:
                bound = route_state.max_ts - route_grace
        oldest = state.applied.forget_before(bound)
        due = ip_max + 1000
        if oldest is not None:
            due = max(due, (oldest + 1) * 1000 + self._ip_rule.grace_ms)
        state.forget_at = due

    def sweep(self, state: IpState, ip: str, now_ms: int) -> tuple[list[Notification], bool]:
        """Resolve quiet episodes; return the notifications and whether the state can go."""
        out = self.rules.ip.expire(state.ip, ip, now_ms)
        for route, route_state in list(state.routes.items()):
            out += self.rules.ip_route.expire(route_state, f"{ip} {route}", now_ms)
            if self.rules.ip_route.forgettable(route_state, now_ms):
                del state.routes[route]
        forget = not state.routes and self.rules.ip.forgettable(state.ip, now_ms)
        return out, forget
