from __future__ import annotations

import random

from stream_app.detection.ip_rule import IpState, observe
from stream_app.detection.sliding_window import SlidingWindowCounter


def brute_force_window_full_at(timestamps: list[int], now: int, threshold: int, window_ms: int) -> bool:
    """Does the window ending at ``now`` hold ``threshold`` events? (checked naively)"""
    return sum(1 for t in timestamps if now - window_ms < t <= now) >= threshold


def test_five_failures_within_ten_minutes_fire() -> None:
    counter = SlidingWindowCounter(5, 600_000)
    fired = [counter.add(t * 100_000) for t in range(5)]  # 0 .. 400 s
    assert fired == [False, False, False, False, True]


def test_five_failures_spread_over_more_than_the_window_do_not_fire() -> None:
    counter = SlidingWindowCounter(5, 600_000)
    assert not any(counter.add(t * 150_000) for t in range(5))  # 0 .. 600 s: span not < 600 s


def test_state_never_holds_more_than_threshold_timestamps() -> None:
    counter = SlidingWindowCounter(5, 600_000)
    for t in range(1000):
        counter.add(t * 1_000_000)
    assert len(counter.timestamps) == 5


def test_matches_brute_force_on_random_in_order_traces() -> None:
    rng = random.Random(7)
    for _ in range(500):
        counter = SlidingWindowCounter(5, 600_000)
        seen: list[int] = []
        t = 0
        for _ in range(rng.randint(1, 30)):
            t += rng.randint(0, 300_000)
            seen.append(t)
            assert counter.add(t) == brute_force_window_full_at(seen, t, 5, 600_000)


def test_redelivered_event_counts_once_and_fires_once() -> None:
    state = IpState()
    firings = []
    for i in range(6):
        for _ in range(2):  # every event delivered twice
            f = observe(
                state,
                ip="10.0.0.1",
                event_id=f"e{i}",
                ts=i * 1000,
                reason="invalid_token",
                route="/api/submit",
                threshold=5,
                window_ms=600_000,
            )
            if f:
                firings.append(f)
    assert state.count == 6
    assert [f.alert_key for f in firings] == ["ip-failures:10.0.0.1:0"]
