"""A copy of a failure the producer published again (new offset, same event id) changes no count and no alert.

The capture spool can send a whole segment again; its copies can come after
any number of other failures. Checked against the oracle, which sees each
event once.
"""

from __future__ import annotations

import random

import orjson
import pytest

from failstream.settings import Settings
from failstream.stream_app.detection import counted_ids
from failstream.stream_app.detection.counted_ids import AppliedIds
from failstream.stream_app.detection.ip_detector import Failure, IpDetector, IpState, id_hash
from failstream.stream_app.detection.notification import Notification
from failstream.stream_app.detection.prefix_detector import PrefixDetector, PrefixState
from failstream.stream_app.detection.prefix_forward import ForwardedFailure
from failstream.stream_app.detection.rules import DetectionRules
from tests.unit.stream_app.oracle import Expected, seeded_trace_oracle, threshold_oracle
from tests.unit.stream_app.traces import failure_trace

MIN = 60_000
T0 = 1_700_000_000_000


def rules(**overrides: object) -> DetectionRules:
    return DetectionRules.from_settings(Settings(_env_file=None, **overrides))  # type: ignore[arg-type]


def failure(i: int, ts: int, route: str = "/login", ip: str = "10.0.0.1") -> Failure:
    return Failure(f"e{i}", ts, ip, "POST", route, "invalid_token", "shop")


def with_copies(events: list[Failure], rng: random.Random, share: float) -> list[Failure]:
    """The events in order, and copies of a ``share`` of them each put at a random later place."""
    out: list[Failure | None] = list(events)
    places: dict[int, list[Failure]] = {}
    for i, event in enumerate(events):
        for _ in range(2 if rng.random() < share / 4 else 1 if rng.random() < share else 0):
            places.setdefault(rng.randint(i + 1, len(events)), []).append(event)
    merged: list[Failure] = []
    for i in range(len(events) + 1):
        merged += places.get(i, [])
        if i < len(events) and (event := out[i]) is not None:
            merged.append(event)
    return merged


def keys(notes: list[Notification]) -> list[tuple[str, int]]:
    return [(n.alert_key, n.count) for n in notes]


def test_six_failures_and_their_six_copies_do_not_reach_a_threshold_of_ten() -> None:
    """The case found on issue 19: four remembered ids let the copies through as a count of 10."""
    det, state = IpDetector(rules(rule_ip_threshold=10)), IpState()
    originals = [failure(i, T0 + i * 1000) for i in range(6)]
    notes = [n for offset, f in enumerate(originals + originals) for n in det.observe(state, f, offset)]
    assert notes == []
    assert len(state.ip.times) == 6
    fired = [n for i in range(6, 10) for n in det.observe(state, failure(i, T0 + i * 1000), 100 + i)]
    assert keys(fired) == [(f"ip-failures:10.0.0.1:{T0}", 10)]


def test_copies_in_an_episode_do_not_raise_its_counts() -> None:
    det, state = IpDetector(rules(repeat_interval_s=5)), IpState()
    events = [failure(i, T0 + i * 1000) for i in range(12)]
    arrivals = events[:6] + events[:6] + events[6:] + events
    notes = [n for offset, f in enumerate(arrivals) for n in det.observe(state, f, offset)]
    assert keys(notes) == [(f"ip-failures:10.0.0.1:{T0}", 5), (f"ip-failures:10.0.0.1:{T0}:renotify-1", 10)]
    assert state.ip.episode is not None and state.ip.episode.count == 12


def test_a_copy_after_thousands_of_other_failures_is_still_recognised() -> None:
    det, state = IpDetector(rules()), IpState()
    first = failure(0, T0)
    det.observe(state, first, 0)
    for i in range(1, 3000):  # all within the grace: a copy of the first would still be accepted
        det.observe(state, failure(i, T0 + i * 10), i)
    assert det.observe(state, first, 3000) == []
    assert state.ip.episode is not None and state.ip.episode.count == 3000


def test_a_route_whose_newest_lags_the_ips_keeps_its_ids_remembered() -> None:
    """Ids of a quiet route outlive the IP's own bound: that route still accepts their copies."""
    det, state = IpDetector(rules(rule_ip_route_threshold=5, rule_ip_threshold=1000)), IpState()
    quiet = [failure(i, T0 + i * 1000, route="/a") for i in range(4)]
    busy = [failure(100 + i, T0 + 10_000 + i * 10_000, route="/b") for i in range(30)]  # 5 min past grace
    for offset, f in enumerate(quiet + busy):
        det.observe(state, f, offset)
    copies = [n for offset, f in enumerate(quiet, start=100) for n in det.observe(state, f, offset)]
    assert copies == []
    assert len(state.routes["POST /a"].times) == 4
    assert keys(det.observe(state, failure(200, T0 + 5_000, route="/a"), 200)) == [
        (f"ip-route-failures:10.0.0.1 POST /a:{T0}", 5)
    ]


def test_ids_go_once_no_rule_of_the_ip_could_accept_a_copy() -> None:
    det, state = IpDetector(rules(grace_s=60)), IpState()
    det.observe(state, failure(0, T0), 0)
    det.observe(state, failure(1, T0 + MIN), 1)
    assert id_hash("e0") in state.applied  # exactly grace old: a copy would still count
    det.observe(state, failure(2, T0 + MIN + 2_000), 2)
    assert id_hash("e0") not in state.applied and len(state.applied) == 2
    assert det.observe(state, failure(0, T0), 3) == []  # refused as too late, as the oracle says
    assert state.ip.times == [T0, T0 + MIN, T0 + MIN + 2_000]


def test_seeded_traces_with_copies_anywhere_later_give_exactly_the_oracles_alerts() -> None:
    det = IpDetector(rules(rule_ip_route_threshold=4, rule_ip_route_window_s=300, repeat_interval_s=900))
    for seed in range(4):
        rng = random.Random(seed)
        trace = failure_trace(seed, ips=200, base_ts=T0, grace_ms=MIN, window_ms=10 * MIN, events_per_ip=30)
        events = [
            Failure(f"e{n}", ts, ip, method, route, "other", "s")
            for n, (ip, ts, method, route) in enumerate(trace)
        ]
        replayed = with_copies(events, rng, share=0.4)
        assert len(replayed) > 1.3 * len(events)
        states: dict[str, IpState] = {}
        got: set[Expected] = set()
        for offset, event in enumerate(replayed):
            for n in det.observe(states.setdefault(event.ip, IpState()), event, offset):
                got.add(Expected(n.alert_key, n.state, n.count))
        expected = seeded_trace_oracle(trace)
        assert got == expected
        assert {e.state for e in expected} == {"firing", "renotify", "resolved"}


def test_copies_are_recognised_across_the_changelog_round_trip() -> None:
    det = IpDetector(rules())
    trace = failure_trace(7, ips=1, base_ts=T0, grace_ms=MIN, window_ms=10 * MIN, events_per_ip=40)
    events = [
        Failure(f"e{n}", ts, ip, method, route, "other", "s")
        for n, (ip, ts, method, route) in enumerate(trace)
    ]
    replayed = with_copies(events, random.Random(7), share=0.5)
    direct, state = [], IpState()
    for offset, event in enumerate(events):
        direct += keys(det.observe(state, event, offset))
    via_bytes, raw = [], b""
    for offset, event in enumerate(replayed):
        state = IpState.decode(raw)
        via_bytes += keys(det.observe(state, event, offset))
        raw = state.encode()
    assert via_bytes == direct and direct


def test_a_state_stored_with_its_four_recent_ids_loads_and_still_knows_them() -> None:
    det, state = IpDetector(rules(rule_ip_threshold=6)), IpState()
    originals = [failure(i, T0 + i * 1000) for i in range(5)]
    for offset, f in enumerate(originals):
        det.observe(state, f, offset)
    offset_, ip, routes, *_ = orjson.loads(state.encode())
    old = orjson.dumps([offset_, ip, routes, [id_hash(f"e{i}") for i in range(1, 5)]])
    restored = IpState.decode(old)
    assert [n for f in originals[1:] for n in det.observe(restored, f, 10 + f.ts - T0)] == []
    assert len(restored.ip.times) == 5
    assert keys(det.observe(restored, failure(9, T0 + 9000), 10_000)) == [(f"ip-failures:10.0.0.1:{T0}", 6)]


def test_a_prefix_state_stored_with_its_four_recent_ids_loads() -> None:
    state = PrefixState()
    raw = orjson.dumps([{"0": 7}, state.rule.to_json(), [1, 2, 3, 4]])
    restored = PrefixState.decode(raw)
    assert (restored.offsets, len(restored.applied), 3 in restored.applied) == ({"0": 7}, 4, True)


def forwarded(n: int, ts: int, offset: int) -> ForwardedFailure:
    return ForwardedFailure(
        offset, ts, f"2001:db8::{n:x}", "invalid_token", "/login", "shop", id_hash(f"e{n}")
    )


def test_prefix_copies_anywhere_later_give_exactly_the_oracles_alerts() -> None:
    rule = rules(rule_prefix_threshold=6, rule_prefix_window_s=120, repeat_interval_s=300).prefix
    det = PrefixDetector(rule)
    rng = random.Random(3)
    times: list[int] = []
    ts = T0
    for _ in range(400):
        ts += rng.choice([1_000, 5_000, 40_000, 200_000])
        times.append(ts - (rng.randint(0, 90_000) if rng.random() < 0.3 else 0))
    events = [failure(n, t) for n, t in enumerate(times)]
    replayed = with_copies(events, rng, share=0.5)
    state, got = PrefixState(), []
    for offset, event in enumerate(replayed):
        n = int(event.event_id[1:])
        got += [
            (x.alert_key, x.state, x.count)
            for x in det.observe(state, "2001:db8::/64", 0, forwarded(n, event.ts, offset))
        ]
        state = PrefixState.decode(state.encode())
    expected = threshold_oracle(rule.name, "2001:db8::/64", times, 6, 120_000, rule.grace_ms, 300_000)
    assert sorted(got) == sorted((e.alert_key, e.state, e.count) for e in expected)
    assert {e.state for e in expected} == {"firing", "renotify", "resolved"}


def test_a_flood_of_distinct_ids_is_capped_by_dropping_the_oldest_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(counted_ids, "MAX_IDS", 8)
    ids = AppliedIds()
    for i in range(9):
        assert ids.add(i, 100 + i // 3)  # three ids in each of three seconds
    assert len(ids) == 6 and 0 not in ids and 8 in ids  # to three quarters of the cap: the oldest second went
    assert not ids.add(8, 102)


def test_past_the_set_index_threshold_copies_are_still_found_and_forgetting_keeps_the_index_right() -> None:
    ids = AppliedIds()
    for i in range(100):
        assert ids.add(i, 1_000 + i)  # one id a second
    assert not ids.add(40, 1_040) and not ids.add(99, 1_099)
    assert ids.forget_before(1_050_000) == 1_050
    assert (len(ids), 49 in ids, 50 in ids) == (50, False, True)
    assert not ids.add(50, 1_050)
    assert ids.add(49, 1_049)  # forgotten: taken as new
    hashes, ages = ids.to_lists(1_100)
    restored = AppliedIds.from_lists(hashes, [ages], 1_100)
    assert not restored.add(99, 1_099) and restored.forget_before(1_200_000) is None and len(restored) == 0
