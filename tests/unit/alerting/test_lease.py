"""Lease arithmetic: a claim outlasts the longest send, and is renewed while one goes on."""

from __future__ import annotations

import asyncio

import pytest

from failstream.alerting.fence import Claimed
from failstream.alerting.lease import LEASE_MARGIN_S, LeaseKeeper, lease_plan, plan_lease, worst_send_s
from failstream.settings import Settings


def test_worst_send_is_every_attempt_at_its_deadline_plus_the_longest_backoffs() -> None:
    # 3 attempts of 10 s x 1.5, backoff ceilings 1 s and 2 s before the 2nd and 3rd
    assert worst_send_s(3, 10.0, 1.0, 30.0) == 3 * 15.0 + 1.0 + 2.0
    # the backoff cap bounds the later waits
    assert worst_send_s(5, 2.0, 4.0, 5.0) == 5 * 3.0 + 4.0 + 5.0 + 5.0 + 5.0
    assert worst_send_s(1, 2.0, 4.0, 5.0) == 3.0


def test_default_settings_lease_already_outlasts_the_worst_send() -> None:
    s = Settings()
    plan = lease_plan(s)
    need = worst_send_s(s.send_attempts, s.smtp_timeout_s, s.smtp_retry_base_s, s.smtp_retry_max_s)
    assert plan.raised_from is None and plan.lease_s == s.fence_lease_s > need + LEASE_MARGIN_S


def test_a_lease_shorter_than_the_worst_send_is_raised_to_cover_it(caplog: pytest.LogCaptureFixture) -> None:
    plan = plan_lease(5.0, 3, 3.0, 0.5, 4.0)
    assert plan.raised_from == 5.0
    assert plan.lease_s == pytest.approx(3 * 4.5 + 0.5 + 1.0 + LEASE_MARGIN_S)
    assert plan.lease_ms == int(plan.lease_s * 1000)
    lease_plan(Settings(fence_lease_s=5.0, smtp_timeout_s=3.0, smtp_retry_base_s=0.5, smtp_retry_max_s=4.0))
    assert "FAILSTREAM_FENCE_LEASE_S=5" in caplog.text


def test_renewal_comes_often_enough_that_two_missed_rounds_still_leave_lease() -> None:
    plan = plan_lease(60.0, 3, 10.0, 1.0, 30.0)
    assert plan.renew_every_s * 3 == pytest.approx(plan.lease_s)


async def test_keeper_renews_until_the_send_ends_and_notes_claims_taken_over() -> None:
    claims = [Claimed("k1", "t1"), Claimed("k2", "t2")]
    rounds: list[list[str]] = []
    third = asyncio.Event()

    async def renew(held: list[Claimed]) -> set[str]:
        rounds.append([c.key for c in held])
        if len(rounds) == 3:
            third.set()
        if len(rounds) == 2:
            raise ConnectionError("MongoDB away")  # a round lost to an outage is skipped
        return {"k1"} if len(rounds) >= 3 else {"k1", "k2"}

    async with LeaseKeeper(renew, claims, 0.01, lambda exc: isinstance(exc, ConnectionError)) as keeper:
        await asyncio.wait_for(third.wait(), 5)
    count = len(rounds)
    await asyncio.sleep(0.05)
    assert len(rounds) == count  # stopped with the send
    assert keeper.lost == {"k2"}
