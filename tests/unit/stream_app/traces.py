"""Seeded failure traces: many IPs, bursts, quiet gaps and out-of-order arrival."""

from __future__ import annotations

import random

ROUTES = (("POST", "/api/submit"), ("GET", "/api/items/{id}"), ("POST", "/login"))


def failure_trace(
    seed: int, *, ips: int, base_ts: int, grace_ms: int, window_ms: int, events_per_ip: int = 12
) -> list[tuple[str, int, str, str]]:
    """(ip, ts, method, route) in arrival order.

    Each IP alternates bursts (a few seconds apart), sparse events (minutes
    apart) and quiet gaps longer than a window; arrival is event time plus a
    random delay of up to 1.5 times grace, so most late events count and some
    come too late.
    """
    rng = random.Random(seed)
    arrivals: list[tuple[float, str, int, str, str]] = []
    for n in range(ips):
        ip = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        ts = base_ts + rng.randint(0, window_ms)
        for _ in range(rng.randint(1, events_per_ip)):
            mode = rng.random()
            if mode < 0.6:
                ts += rng.randint(0, 5_000)
            elif mode < 0.9:
                ts += rng.randint(30_000, window_ms // 2)
            else:
                ts += rng.randint(window_ms, 3 * window_ms)
            method, route = rng.choice(ROUTES)
            delay = rng.uniform(0, 1.5 * grace_ms) if rng.random() < 0.3 else 0.0
            arrivals.append((ts + delay, ip, ts, method, route))
    arrivals.sort(key=lambda a: a[0])
    return [(ip, ts, method, route) for _, ip, ts, method, route in arrivals]
