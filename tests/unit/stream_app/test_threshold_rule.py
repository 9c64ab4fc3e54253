from __future__ import annotations

import random

import orjson

from failstream.stream_app.detection.sliding_window import earliest_full_window, state_bound
from failstream.stream_app.detection.threshold_rule import ThresholdRule, ThresholdState
from tests.unit.stream_app.oracle import Expected, threshold_oracle

MIN = 60_000
RULE = ThresholdRule("ip-failures", threshold=5, window_ms=10 * MIN, grace_ms=MIN, repeat_ms=60 * MIN)


def feed(rule: ThresholdRule, times: list[int], state: ThresholdState | None = None) -> list[Expected]:
    state = state or ThresholdState()
    out = []
    for ts in times:
        out += [
            Expected(n.alert_key, n.state, n.count)
            for n in rule.observe(state, "10.0.0.1", ts, "r", "/", "s")
        ]
    return out


def test_five_failures_within_ten_minutes_fire_once_with_the_window_start_in_the_key() -> None:
    assert feed(RULE, [0, 100_000, 200_000, 300_000, 400_000, 450_000]) == [
        Expected("ip-failures:10.0.0.1:0", "firing", 5)
    ]


def test_five_failures_spread_over_exactly_the_window_do_not_fire() -> None:
    assert feed(RULE, [0, 150_000, 300_000, 450_000, 600_000]) == []


def test_an_out_of_order_event_within_grace_counts_in_its_own_window() -> None:
    # 4 events, then a late one 50 s older than the newest: it completes the window
    assert feed(RULE, [0, 1_000, 2_000, 60_000, 10_000]) == [Expected("ip-failures:10.0.0.1:0", "firing", 5)]


def test_an_event_later_than_grace_is_ignored_by_detection() -> None:
    assert feed(RULE, [0, 1_000, 2_000, 200_000, 3_000, 4_000]) == []


def test_still_failing_subject_renotifies_after_the_repeat_interval_with_updated_counts() -> None:
    times = [i * 60_000 for i in range(70)]  # one a minute for 70 minutes
    out = feed(RULE, times)
    assert out == [
        Expected("ip-failures:10.0.0.1:0", "firing", 5),
        Expected("ip-failures:10.0.0.1:0:renotify-1", "renotify", 65),
    ]


def test_a_quiet_window_resolves_the_episode_and_a_new_burst_is_a_new_episode() -> None:
    burst = [0, 1, 2, 3, 4]
    later = [t + 20 * MIN for t in burst]
    assert feed(RULE, burst + later) == [
        Expected("ip-failures:10.0.0.1:0", "firing", 5),
        Expected("ip-failures:10.0.0.1:0:resolved", "resolved", 5),
        Expected(f"ip-failures:10.0.0.1:{20 * MIN}", "firing", 5),
    ]


def test_expire_resolves_by_wall_clock_only_after_window_plus_grace() -> None:
    state = ThresholdState()
    feed(RULE, [0, 1, 2, 3, 4], state)
    assert RULE.expire(state, "10.0.0.1", 4 + 11 * MIN - 1) == []
    [resolved] = RULE.expire(state, "10.0.0.1", 4 + 11 * MIN)
    assert (resolved.state, resolved.alert_key, resolved.count) == (
        "resolved",
        "ip-failures:10.0.0.1:0:resolved",
        5,
    )
    assert RULE.forgettable(state, 4 + 11 * MIN)


def test_replaying_the_same_state_from_json_gives_the_same_alerts() -> None:
    times = [0, 5, 3, 70_000, 9, 12, 700_000, 700_001]
    direct = feed(RULE, times)
    state = ThresholdState()
    via_json = []
    for ts in times:
        via_json += [
            Expected(n.alert_key, n.state, n.count)
            for n in RULE.observe(state, "10.0.0.1", ts, "r", "/", "s")
        ]
        state = ThresholdState.from_json(orjson.loads(orjson.dumps(state.to_json())))
    assert via_json == direct


def test_earliest_full_window_picks_the_first_window_through_the_new_event() -> None:
    assert earliest_full_window([0, 1, 2, 3], 2, 3, 10) == 0
    assert earliest_full_window([0, 50, 51, 52], 3, 3, 10) == 1
    assert earliest_full_window([0, 50, 100], 1, 2, 10) is None


def test_state_never_exceeds_its_bound_and_alerts_match_the_brute_force_oracle() -> None:
    rng = random.Random(20261122)
    kinds: set[str] = set()
    for trial in range(400):
        threshold = rng.randint(1, 6)
        window = rng.choice([1_000, 10_000, 60_000])
        grace = rng.choice([0, window // 4, window // 2])
        repeat = rng.choice([5_000, 30_000, 120_000])
        rule = ThresholdRule("ip-failures", threshold, window, grace, repeat)
        times, t = [], 0
        for _ in range(rng.randint(1, 60)):
            t += rng.choice([0, rng.randint(0, window // 3), rng.randint(window, 3 * window)])
            jitter = rng.randint(0, int(grace * 1.5)) if rng.random() < 0.4 else 0
            times.append(max(0, t - jitter))
        state = ThresholdState()
        got: list[Expected] = []
        for ts in times:
            got += [
                Expected(n.alert_key, n.state, n.count)
                for n in rule.observe(state, "10.0.0.1", ts, "r", "/", "s")
            ]
            assert len(state.times) <= state_bound(threshold, window, grace), trial
        assert got == threshold_oracle("ip-failures", "10.0.0.1", times, threshold, window, grace, repeat), (
            trial
        )
        kinds.update(e.state for e in got)
    assert kinds == {"firing", "renotify", "resolved"}  # the traces exercise every transition
