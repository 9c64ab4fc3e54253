from __future__ import annotations

from failstream.settings import Settings
from failstream.stream_app.detection.ip_detector import Failure, IpDetector, IpState
from failstream.stream_app.detection.rules import DetectionRules
from tests.unit.stream_app.oracle import Expected, seeded_trace_oracle
from tests.unit.stream_app.traces import failure_trace

MIN = 60_000


def detector(**overrides: object) -> IpDetector:
    return IpDetector(DetectionRules.from_settings(Settings(_env_file=None, **overrides)))  # type: ignore[arg-type]


def failure(i: int, ip: str = "10.0.0.1", ts: int | None = None, route: str = "/api/submit") -> Failure:
    return Failure(f"e{i}", i * 1000 if ts is None else ts, ip, "POST", route, "invalid_token", "demo")


def test_a_redelivered_offset_changes_nothing_and_fires_nothing() -> None:
    det, state = detector(), IpState()
    keys = []
    for i in range(6):
        for _ in range(2):  # every message delivered twice, same offset
            keys += [n.alert_key for n in det.observe(state, failure(i), offset=i)]
    assert keys == ["ip-failures:10.0.0.1:0"]
    assert state.ip.episode is not None and state.ip.episode.count == 6


def test_a_re_sent_event_id_at_a_new_offset_is_not_counted_twice() -> None:
    det, state = detector(), IpState()
    for offset, i in enumerate([0, 1, 1, 2, 2, 3]):
        assert det.observe(state, failure(i), offset) == []
    assert len(state.ip.times) == 4


def test_allowlisted_networks_never_fire() -> None:
    det, state = detector(allowlist="10.0.0.0/24,::1"), IpState()
    assert [n for i in range(20) for n in det.observe(state, failure(i), i)] == []
    other = IpState()
    fired = [n for i in range(5) for n in det.observe(other, failure(i, ip="10.0.1.1"), i)]
    assert [n.subject for n in fired] == ["10.0.1.1"]


def test_ip_route_rule_names_ip_method_and_route_and_counts_per_route() -> None:
    det, state = detector(rule_ip_route_threshold=3, rule_ip_threshold=100), IpState()
    notes = []
    for i in range(4):
        notes += det.observe(state, failure(i, route="/a"), 2 * i)
        notes += det.observe(state, failure(100 + i, ts=i * 1000, route="/b"), 2 * i + 1)
    assert sorted(n.alert_key for n in notes) == [
        "ip-route-failures:10.0.0.1 POST /a:0",
        "ip-route-failures:10.0.0.1 POST /b:0",
    ]


def test_state_survives_an_encode_decode_round_trip_between_every_event() -> None:
    det = detector()
    trace = failure_trace(3, ips=1, base_ts=0, grace_ms=MIN, window_ms=10 * MIN, events_per_ip=40)
    direct, state = [], IpState()
    for offset, (ip, ts, method, route) in enumerate(trace):
        direct += det.observe(state, Failure(f"e{offset}", ts, ip, method, route, "other", "s"), offset)
    via_bytes, raw = [], b""
    for offset, (ip, ts, method, route) in enumerate(trace):
        state = IpState.decode(raw)
        via_bytes += det.observe(state, Failure(f"e{offset}", ts, ip, method, route, "other", "s"), offset)
        raw = state.encode()
    assert via_bytes == direct


def test_seeded_traces_of_many_ips_give_exactly_the_oracles_alerts() -> None:
    det = detector(rule_ip_route_threshold=4, rule_ip_route_window_s=300, repeat_interval_s=900)
    for seed in range(5):
        trace = failure_trace(
            seed, ips=300, base_ts=1_700_000_000_000, grace_ms=MIN, window_ms=10 * MIN, events_per_ip=30
        )
        states: dict[str, IpState] = {}
        got: set[Expected] = set()
        for offset, (ip, ts, method, route) in enumerate(trace):
            state = states.setdefault(ip, IpState())
            for n in det.observe(state, Failure(f"e{offset}", ts, ip, method, route, "other", "s"), offset):
                got.add(Expected(n.alert_key, n.state, n.count))
        expected = seeded_trace_oracle(trace)
        assert got == expected
        assert {e.state for e in expected} == {"firing", "renotify", "resolved"}


def test_sweep_resolves_quiet_episodes_and_forgets_idle_ips() -> None:
    det, state = detector(), IpState()
    for i in range(5):
        det.observe(state, failure(i), i)
    notes, forget = det.sweep(state, "10.0.0.1", 4_000 + 11 * MIN)
    assert [n.state for n in notes] == ["resolved"] and forget
