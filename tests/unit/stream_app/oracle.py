"""A brute-force restatement of the threshold rule, to check the real one against.

It keeps every accepted event and answers "is there a span of ``window``
holding ``threshold`` events?" by counting, with none of the real rule's
pruning, bisecting or bounded state. Events of one subject are given in
arrival order (Kafka keeps that per key).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Expected:
    alert_key: str
    state: str
    count: int


def threshold_oracle(
    rule: str,
    subject: str,
    times: Iterable[int],
    threshold: int,
    window_ms: int,
    grace_ms: int,
    repeat_ms: int,
) -> list[Expected]:
    out: list[Expected] = []
    newest: int | None = None
    candidates: list[int] = []
    members: list[int] | None = None
    start = notified = seq = 0
    for ts in times:
        if newest is not None and ts < newest - grace_ms:
            continue  # too late
        if members is not None and ts - max(members) >= window_ms:
            out.append(Expected(f"{rule}:{subject}:{start}:resolved", "resolved", len(members)))
            members = None
        newest = ts if newest is None else max(newest, ts)
        if members is not None:
            members.append(ts)
            if ts - notified >= repeat_ms:
                seq += 1
                notified = ts
                out.append(Expected(f"{rule}:{subject}:{start}:renotify-{seq}", "renotify", len(members)))
            continue
        candidates.append(ts)
        starts = [
            s
            for s in candidates
            if s <= ts < s + window_ms and sum(1 for c in candidates if s <= c < s + window_ms) >= threshold
        ]
        if starts:
            start = min(starts)
            members = [c for c in candidates if start <= c < start + window_ms]
            notified, seq = ts, 0
            candidates = []
            out.append(Expected(f"{rule}:{subject}:{start}", "firing", len(members)))
    return out


def ip_oracle(
    events: Iterable[tuple[str, int, str, str]],
    *,
    threshold: int,
    window_ms: int,
    route_threshold: int,
    route_window_ms: int,
    grace_ms: int,
    repeat_ms: int,
) -> set[Expected]:
    """Expected alerts of ``ip-failures`` and ``ip-route-failures`` for (ip, ts, method, route) events."""
    by_ip: dict[str, list[int]] = defaultdict(list)
    by_route: dict[str, list[int]] = defaultdict(list)
    for ip, ts, method, route in events:
        by_ip[ip].append(ts)
        by_route[f"{ip} {method} {route}"].append(ts)
    expected: set[Expected] = set()
    for ip, times in by_ip.items():
        expected.update(threshold_oracle("ip-failures", ip, times, threshold, window_ms, grace_ms, repeat_ms))
    for subject, times in by_route.items():
        expected.update(
            threshold_oracle(
                "ip-route-failures", subject, times, route_threshold, route_window_ms, grace_ms, repeat_ms
            )
        )
    return expected


def seeded_trace_oracle(events: Iterable[tuple[str, int, str, str]]) -> set[Expected]:
    """``ip_oracle`` under the rules the seeded-trace tests run the detector with: ``ip-failures``
    5 in 10 min, ``ip-route-failures`` 4 in 5 min, grace 1 min, repeat 15 min."""
    minute = 60_000
    return ip_oracle(
        events,
        threshold=5,
        window_ms=10 * minute,
        route_threshold=4,
        route_window_ms=5 * minute,
        grace_ms=minute,
        repeat_ms=15 * minute,
    )
