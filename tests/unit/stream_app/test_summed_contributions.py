"""A batch's contributions, summed per document and partition, add what its messages add one by one."""

from __future__ import annotations

from failstream.events import FailedRequest, new_event_id
from failstream.stream_app.mongo.failures import RECENT, Read, _contributions
from failstream.stream_app.mongo.guarded_counts import LIST_KEPT, Delta, newest, one_by_one

T0 = 1_800_000_000_000


def _reads(n: int) -> list[Read]:
    reasons = (("invalid_token", 401), ("forbidden", 403), ("rate_limited", 429))
    return [
        Read(
            FailedRequest(
                event_id=new_event_id(),
                ts=T0 + (i * 7919) % 180_000,  # out of order, over three minutes
                service=("demo", "billing.v2")[i % 2],
                ip=f"10.9.0.{i % 3}",
                method="POST",
                route=f"/r/{i % 5}",
                status=reasons[i % 3][1],
                reason=reasons[i % 3][0],  # type: ignore[arg-type]
            ),
            partition=i % 2,
            offset=1_000 + i,
        )
        for i in range(n)
    ]


def test_each_summed_contribution_equals_its_messages_merged_one_by_one() -> None:
    reads = _reads(500)
    per_ip, minutes = _contributions(reads)
    assert len(per_ip) == 6 and len(minutes) == 6  # one per document and partition
    for summed in (*per_ip, *minutes):
        parts = one_by_one([summed])
        assert len(parts) > 1 and {p.doc_id for p in parts} == {summed.doc_id}
        assert {p.partition for p in parts} == {summed.partition}
        merged = Delta()
        for part in parts:
            merged.merge(part.delta)
        if RECENT in merged.lists:
            merged.lists[RECENT] = newest(merged.lists[RECENT], LIST_KEPT)
        assert merged == summed.delta
        assert (summed.first, summed.offset) == (min(p.offset for p in parts), max(p.offset for p in parts))
    counted = sum(c.delta.inc["total"] for c in per_ip)
    assert counted == sum(c.delta.inc["total"] for c in minutes) == len(reads)


def test_a_lone_message_is_its_own_contribution() -> None:
    per_ip, minutes = _contributions(_reads(1))
    assert [(c.first, c.split) for c in (*per_ip, *minutes)] == [(None, None), (None, None)]
    assert per_ip[0].delta.inc["services.demo"] == 1 and per_ip[0].delta.lists[RECENT]
