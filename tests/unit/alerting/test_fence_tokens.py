"""The claim-token fence: only the claim that is current may renew or finish an alert."""

from __future__ import annotations

from typing import Any

from failstream.alerting.fence import AlertFence, AlreadyHandled, Claimed, HeldElsewhere, arbiter_id
from tests.unit.alerting.factories import T0
from tests.unit.alerting.memory_collection import MemoryCollection, MemoryDatabase

LEASE_MS = 10_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _fences(*owners: str) -> tuple[MemoryCollection, Clock, list[AlertFence]]:
    alerts = MemoryDatabase()["alerts"]
    clock = Clock()
    fences = [AlertFence(alerts, owner, LEASE_MS, clock) for owner in owners]  # type: ignore[arg-type]
    return alerts, clock, fences


def _status(alerts: MemoryCollection, key: str) -> Any:
    return alerts.docs[key]["status"]


async def test_a_claim_writes_a_random_token_and_finishing_with_it_marks_the_alert_sent() -> None:
    alerts, _, [a] = _fences("a")
    first = await a.claim_key("k1", {})
    second = await a.claim_key("k2", {})
    assert isinstance(first, Claimed) and isinstance(second, Claimed)
    assert first.token and first.token != second.token
    assert alerts.docs["k1"]["token"] == first.token
    assert await a.finish([first], "sent", email_id="m1") == []
    assert _status(alerts, "k1") == "sent" and alerts.docs["k1"]["email_id"] == "m1"


async def test_the_old_owner_cannot_finish_or_renew_a_claim_taken_over_after_its_lease() -> None:
    alerts, clock, [a, b] = _fences("a", "b")
    old = await a.claim_key("k", {})
    clock.now += LEASE_MS  # a stalled (a MongoDB outage, a slow relay) past its lease
    new = await b.claim_key("k", {})
    assert isinstance(old, Claimed) and isinstance(new, Claimed) and new.taken_over
    assert new.token != old.token and new.generation == 1

    assert await a.renew_claims([old]) == set()
    assert await a.finish([old], "sent", email_id="late") == [old]  # lost: b sends it, not a's record
    assert _status(alerts, "k") == "claimed" and alerts.docs["k"]["owner"] == "b"
    assert await b.finish([new], "sent", email_id="m") == []
    assert _status(alerts, "k") == "sent" and alerts.docs["k"]["email_id"] == "m"


async def test_the_same_owner_with_a_token_from_an_older_claim_is_fenced_off_too() -> None:
    alerts, clock, [a, b] = _fences("a", "b")
    stale = await a.claim_key("k", {})
    clock.now += LEASE_MS
    await b.claim_key("k", {})
    clock.now += LEASE_MS
    current = await a.claim_key("k", {})  # a takes it back: same owner name, new token
    assert isinstance(stale, Claimed) and isinstance(current, Claimed) and current.taken_over
    assert alerts.docs["k"]["owner"] == "a"

    assert await a.renew_claims([stale]) == set()  # an owner-name fence would have said yes
    assert await a.finish([stale], "sent") == [stale]
    assert _status(alerts, "k") == "claimed"
    assert await a.renew_claims([current]) == {"k"}


async def test_an_alert_finished_in_time_is_never_taken_over() -> None:
    _, clock, [a, b] = _fences("a", "b")
    claim = await a.claim_key("k", {})
    assert isinstance(claim, Claimed)
    await a.finish([claim], "sent")
    clock.now += 10 * LEASE_MS
    assert await b.claim_key("k", {}) == AlreadyHandled("sent")


async def test_a_finish_cut_short_before_its_status_was_written_holds_off_take_overs() -> None:
    alerts, clock, [a, b] = _fences("a", "b")
    claim = await a.claim_key("k", {})
    assert isinstance(claim, Claimed)
    clock.now += LEASE_MS  # a's lease ran out while it sent; it won the finish, then MongoDB went away
    takeovers = alerts.database["alerts_takeovers"]
    takeovers.put({"_id": arbiter_id("k", 1), "owner": "a", "token": claim.token, "at": clock.now})

    assert isinstance(await b.claim_key("k", {}), HeldElsewhere)  # not a second send
    assert await a.finish([claim], "sent") == []  # a's retry of the same finish goes through
    assert await b.claim_key("k", {}) == AlreadyHandled("sent")


async def test_a_take_over_that_won_first_makes_the_late_finish_lose_whatever_the_update_order() -> None:
    alerts, clock, [a] = _fences("a")
    claim = await a.claim_key("k", {})
    assert isinstance(claim, Claimed)
    clock.now += LEASE_MS
    # b inserted the next generation's arbiter; its claim rewrite has not landed yet
    alerts.database["alerts_takeovers"].put({"_id": arbiter_id("k", 1), "owner": "b", "at": clock.now})
    assert await a.finish([claim], "sent") == [claim]
    assert _status(alerts, "k") == "claimed"


async def test_a_take_over_written_back_by_a_stale_renewal_is_still_finished_by_its_winner() -> None:
    alerts, clock, [a, b] = _fences("a", "b")
    old = await a.claim_key("k", {})
    clock.now += LEASE_MS
    before = dict(alerts.docs["k"])
    new = await b.claim_key("k", {})
    assert isinstance(old, Claimed) and isinstance(new, Claimed)
    alerts.put({**before, "lease_until": clock.now + LEASE_MS})  # a's renewal lands over b's take-over

    assert await b.finish([new], "sent", email_id="m") == []
    assert _status(alerts, "k") == "sent" and alerts.docs["k"]["email_id"] == "m"
    assert await a.finish([old], "sent") == [old]  # the stale owner still cannot finish it
