from __future__ import annotations

import random

from failstream.stream_app.detection.email_rule import EmailRatioRule, EmailState

RULE = EmailRatioRule(ratio=0.5, min_volume=10, window_ms=60_000, grace_ms=5_000, repeat_ms=600_000)


def feed(events: list[tuple[int, str]], rule: EmailRatioRule = RULE) -> list[tuple[str, str]]:
    state = EmailState()
    return [
        (n.state, n.alert_key)
        for i, (ts, status) in enumerate(events)
        for n in rule.observe(state, "x.org", ts, status, "s", f"e{i}")
    ]


def test_failure_ratio_at_min_volume_fires_once() -> None:
    events = [(i * 1000, "failed" if i % 2 else "sent") for i in range(30)]
    assert feed(events) == [("firing", "email-delivery:x.org:9000")]


def test_below_min_volume_never_fires_even_if_all_fail() -> None:
    assert feed([(i * 1000, "bounced") for i in range(9)]) == []


def test_queued_and_retrying_are_not_outcomes() -> None:
    events = [(i, s) for i in range(100) for s in ("queued", "retrying")] + [(200, "failed")] * 9
    assert feed(events) == []


def test_a_window_without_failures_resolves() -> None:
    events = [(i * 1000, "bounced") for i in range(10)] + [(80_000, "sent")]
    assert [s for s, _ in feed(events)] == ["firing", "resolved"]


def test_matches_a_brute_force_window_count_on_random_traces() -> None:
    rng = random.Random(5)
    for _ in range(200):
        events, t = [], 0
        for _ in range(rng.randint(1, 80)):
            t += rng.randint(0, 4_000)
            events.append((t, rng.choice(["sent", "sent", "failed", "bounced", "queued"])))
        state, fired_at = EmailState(), None
        for i, (ts, status) in enumerate(events):
            if RULE.observe(state, "x.org", ts, status, "s", f"e{i}"):
                fired_at = i
                break
        expected = None
        for i, (ts, _) in enumerate(events):
            window = [s for t2, s in events[: i + 1] if ts // 1000 - 60 < t2 // 1000 <= ts // 1000]
            outcomes = [s for s in window if s != "queued"]
            failed = sum(s in ("failed", "bounced") for s in outcomes)
            if events[i][1] != "queued" and len(outcomes) >= 10 and failed >= 0.5 * len(outcomes):
                expected = i
                break
        assert fired_at == expected
