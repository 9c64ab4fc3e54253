from __future__ import annotations

import json

from failstream.api.live.seconds import SecondsAggregator
from failstream.events import LiveCounts

T = 1_700_000_000_000  # a whole second (ms)


def agg(start: int = T, delay_ms: int = 1000) -> SecondsAggregator:
    return SecondsAggregator(start, delay_ms=delay_ms, keep_ms=300_000)


def test_records_of_one_second_from_several_workers_are_summed() -> None:
    a = agg()
    a.add(LiveCounts(ts=T, failures=2, by_reason={"invalid_token": 2}, emails={"sent": 1}, alerts=1))
    a.add(LiveCounts(ts=T + 400, failures=3, by_reason={"invalid_token": 1, "forbidden": 2}))
    [second] = a.release(T + 2000)
    assert (second.ts, second.failures, second.alerts, second.records) == (T, 5, 1, 2)
    assert second.by_reason == {"invalid_token": 3, "forbidden": 2}
    assert json.loads(second.to_json()) == {
        "ts": T,
        "failures": 5,
        "by_reason": {"invalid_token": 3, "forbidden": 2},
        "by_status": {},
        "by_service": {},
        "emails": {"sent": 1},
        "alerts": 1,
        "records": 2,
    }


def test_a_second_is_held_back_until_its_end_plus_the_delay() -> None:
    a = agg(delay_ms=1000)
    a.add(LiveCounts(ts=T, failures=1))
    assert a.release(T + 1999) == []
    assert a.due_at() == T + 2000
    assert [s.ts for s in a.release(T + 2000)] == [T]


def test_seconds_go_out_one_per_second_and_empty_ones_say_no_worker_reported() -> None:
    a = agg()
    a.add(LiveCounts(ts=T + 2000, failures=4))
    out = a.release(T + 4000)
    assert [(s.ts, s.failures, s.records) for s in out] == [(T, 0, 0), (T + 1000, 0, 0), (T + 2000, 4, 1)]


def test_a_late_record_is_folded_into_the_next_second_so_totals_stay_right() -> None:
    a = agg()
    a.release(T + 2000)  # second T is out
    a.add(LiveCounts(ts=T, failures=7))
    [second] = a.release(T + 3000)
    assert (second.ts, second.failures, a.folded) == (T + 1000, 7, 1)


def test_a_record_far_older_than_the_released_seconds_is_dropped_not_shown_as_a_burst() -> None:
    a = agg()
    a.release(T + 60_000)
    a.add(LiveCounts(ts=T, failures=100))
    assert sum(s.failures for s in a.release(T + 62_000)) == 0
    assert a.dropped == 1


def test_after_a_long_pause_only_the_replayable_seconds_are_released() -> None:
    a = SecondsAggregator(T, delay_ms=1000, keep_ms=10_000)
    out = a.release(T + 3_600_000)
    assert len(out) == 10
    assert out[-1].ts == T + 3_600_000 - 2000
