"""A backlog replayed after an outage or a restart keeps its windows across wall-clock sweeps."""

from __future__ import annotations

from failstream.events import EmailEvent, failed_request_json, new_event_id
from failstream.settings import Settings
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.processing import EmailBatches, FailureBatches, Record

T = 1_800_000_000_000  # when the burst happened
RULES = {
    "rule_ip_threshold": 40,
    "rule_ip_window_s": 10,
    "grace_s": 2,
    "rule_ip_route_threshold": 1000,
    "rule_ip_route_window_s": 10,
}


def _records(ip: str, first_offset: int, times: list[int]) -> list[Record]:
    return [
        Record(
            "failed-requests",
            0,
            first_offset + i,
            ip.encode(),
            failed_request_json(
                event_id=new_event_id(),
                ts=ts,
                service="demo",
                ip=ip,
                method="POST",
                route="/api/submit",
                status=401,
                reason="invalid_token",
                user_agent="pytest",
                request_id="",
            ),
        )
        for i, ts in enumerate(times)
    ]


def test_a_burst_replayed_a_minute_late_fires_although_a_sweep_runs_between_its_batches() -> None:
    wall = [T + 60_000]  # the worker comes back a minute after the burst
    batches = FailureBatches(
        Settings().model_copy(update=RULES), {}, None, LiveCountsAccumulator(), clock=lambda: wall[0]
    )
    burst = [T + i * 66 for i in range(60)]  # 60 failures in 4 s, threshold 40 in 10 s
    first = batches.detect(batches.decode(_records("10.1.1.1", 0, burst[:30])))
    assert first == []
    assert batches.sweep(wall[0]) == []  # the state's events are a minute old, but it was just applied
    wall[0] += 1_000
    fired = batches.detect(batches.decode(_records("10.1.1.1", 30, burst[30:])))
    assert [(a.rule, a.subject, a.state) for a in fired] == [("ip-failures", "10.1.1.1", "firing")]


def test_a_replayed_state_is_forgotten_once_it_has_been_quiet_for_window_and_grace_since_applied() -> None:
    wall = [T + 60_000]
    batches = FailureBatches(
        Settings().model_copy(update=RULES), {}, None, LiveCountsAccumulator(), clock=lambda: wall[0]
    )
    batches.detect(batches.decode(_records("10.1.1.2", 0, [T, T + 10])))
    batches.sweep(wall[0] + 11_000)
    assert [key for key, _ in batches.states.items()] == [b"10.1.1.2"]
    batches.sweep(wall[0] + 12_000)
    assert list(batches.states.items()) == []


def test_an_allowlisted_ip_that_keeps_failing_is_still_forgotten_once_quiet() -> None:
    wall = [T]
    settings = Settings().model_copy(update={**RULES, "allowlist": ["10.1.1.9"]})
    batches = FailureBatches(settings, {}, None, LiveCountsAccumulator(), clock=lambda: wall[0])
    batches.detect(batches.decode(_records("10.1.1.9", 0, [T, T + 10])))
    batches.sweep(wall[0] + 13_000)
    assert list(batches.states.items()) == []


def _email_records(domain: str, first_offset: int, times: list[int]) -> list[Record]:
    return [
        Record(
            "email-events",
            0,
            first_offset + i,
            domain.encode(),
            EmailEvent(
                event_id=new_event_id(),
                ts=ts,
                service="shop",
                message_id=f"<m{first_offset + i}@shop>",
                recipient_domain=domain,
                status="failed",
            )
            .model_dump_json()
            .encode(),
        )
        for i, ts in enumerate(times)
    ]


EMAIL_RULES = {"rule_email_failure_ratio": 0.5, "rule_email_min_volume": 20, "rule_email_window_s": 10}


def test_an_email_backlog_replayed_a_minute_late_fires_although_a_sweep_runs_between_its_batches() -> None:
    wall = [T + 60_000]
    batches = EmailBatches(
        Settings().model_copy(update={**RULES, **EMAIL_RULES}),
        {},
        None,
        LiveCountsAccumulator(),
        clock=lambda: wall[0],
    )
    burst = [T + i * 100 for i in range(30)]  # 30 failed deliveries in 3 s; 20 make the minimum volume
    first = batches.detect(_email_records("example.com", 0, burst[:15]))
    batches.store(first.states)
    alerts, changes = batches.sweep(wall[0])
    assert (alerts, changes) == ([], {})  # a minute old, but just applied: neither resolved nor forgotten
    wall[0] += 1_000
    second = batches.detect(_email_records("example.com", 15, burst[15:]))
    assert [(a.subject, a.state) for a in second.alerts] == [("example.com", "firing")]
