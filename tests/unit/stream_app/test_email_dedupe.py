"""An email event counts once per event id in its domain's window, whatever offsets its copies have."""

from __future__ import annotations

import orjson

from failstream.events import EmailEvent, new_event_id
from failstream.settings import Settings
from failstream.stream_app.detection import counted_ids
from failstream.stream_app.detection.counted_ids import CountedIds
from failstream.stream_app.detection.email_rule import EmailRatioRule, EmailState
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.processing import EmailBatches, Record

RULE = EmailRatioRule(ratio=0.5, min_volume=10, window_ms=60_000, grace_ms=5_000, repeat_ms=600_000)
T = 1_800_000_000_000
#: nine outcomes, two thirds failing: one more outcome makes the minimum volume of ten
NINE = ["failed", "sent", "failed"] * 3


def _observe(state: EmailState, ts: int, status: str, event_id: str) -> list[tuple[str, int, float | None]]:
    return [(n.state, n.count, n.ratio) for n in RULE.observe(state, "x.org", ts, status, "s", event_id)]


def test_a_copy_of_a_counted_outcome_neither_counts_nor_fires() -> None:
    state = EmailState()
    for i, status in enumerate(NINE):
        assert _observe(state, T + i, status, f"e{i}") == []
    # a copy of e0 would be the tenth outcome and fire at 7 failed of 10
    assert _observe(state, T, "failed", "e0") == []
    assert RULE.window_totals(state) == (9, 6)
    assert _observe(state, T + 50, "sent", "e-new") == [("firing", 6, 0.6)]


def test_the_counted_ids_survive_the_changelog_round_trip() -> None:
    state = EmailState()
    for i, status in enumerate(NINE):
        _observe(state, T + i, status, f"e{i}")
    restored = EmailState.from_json(orjson.loads(orjson.dumps(state.to_json())))
    assert _observe(restored, T + 1, "sent", "e1") == []
    assert RULE.window_totals(restored) == (9, 6)


def test_a_state_stored_before_ids_were_kept_loads_with_none_remembered() -> None:
    state = EmailState()
    _observe(state, T, "failed", "e0")
    old_format = state.to_json()[:4]
    restored = EmailState.from_json(orjson.loads(orjson.dumps(old_format)))
    assert (restored.max_ts, RULE.window_totals(restored), len(restored.counted)) == (T, (1, 1), 0)


def test_ids_are_forgotten_once_a_copy_would_be_refused_as_too_late() -> None:
    state = EmailState()
    _observe(state, T, "failed", "early")
    _observe(state, T + RULE.grace_ms, "sent", "within-grace")
    assert len(state.counted) == 2  # the early one is exactly grace old: a copy would still count
    _observe(state, T + RULE.grace_ms + 1_000, "sent", "later")
    assert len(state.counted) == 2  # "early" forgotten: its second lies wholly before newest - grace
    assert _observe(state, T, "failed", "early") == []
    assert RULE.window_totals(state) == (3, 1)


def test_queued_and_retrying_events_are_not_remembered() -> None:
    state = EmailState()
    _observe(state, T, "queued", "q")
    _observe(state, T, "retrying", "r")
    assert len(state.counted) == 0


def test_the_id_memory_is_capped_by_dropping_its_oldest_seconds(monkeypatch) -> None:
    monkeypatch.setattr(counted_ids, "MAX_IDS", 5)
    ids = CountedIds()
    for i in range(6):
        assert ids.add(f"e{i}", T + (i // 2) * 1000)  # two ids in each of three seconds
    assert len(ids) == 4  # the oldest second went with both its ids
    assert ids.add("e0", T)  # forgotten, so taken as new
    assert not ids.add("e5", T + 2000)


def _email(event_id: str, ts: int, status: str) -> bytes:
    event = EmailEvent(
        event_id=event_id,
        ts=ts,
        service="shop",
        message_id="<m@shop>",
        recipient_domain="x.org",
        status=status,  # type: ignore[arg-type]
    )
    return event.model_dump_json().encode()


def test_a_republished_email_event_at_a_new_offset_counts_once_in_its_domains_ratio() -> None:
    settings = Settings().model_copy(
        update={"rule_email_failure_ratio": 0.5, "rule_email_min_volume": 10, "rule_email_window_s": 60}
    )
    table: dict[bytes, bytes] = {}
    batches = EmailBatches(settings, table, None, LiveCountsAccumulator(), clock=lambda: T)
    ids = [new_event_id() for _ in NINE]
    first = [Record("email-events", 0, i, b"x.org", _email(ids[i], T + i, s)) for i, s in enumerate(NINE)]
    batches.store(batches.detect(first).states)
    copy_and_new = [
        Record("email-events", 0, 9, b"x.org", _email(ids[0], T, "failed")),
        Record("email-events", 0, 10, b"x.org", _email(new_event_id(), T + 50, "sent")),
    ]
    second = batches.detect(copy_and_new)
    assert [(a.state, a.count, a.ratio) for a in second.alerts] == [("firing", 6, 0.6)]
