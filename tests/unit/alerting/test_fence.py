from __future__ import annotations

from failstream.alerting.fence import (
    AlreadyHandled,
    Claimed,
    HeldElsewhere,
    LeaseExpired,
    alert_document,
    judge_existing_claim,
    mongo_safe_keys,
)
from tests.unit.alerting.factories import alert


def test_finished_alert_is_never_claimed_again_whatever_the_lease() -> None:
    for status in ("sent", "suppressed", "failed"):
        doc = {"status": status, "owner": "other", "lease_until": 0}
        assert judge_existing_claim(doc, "me", now=10_000) == AlreadyHandled(status)


def test_live_claim_of_another_process_is_waited_for_until_its_lease_ends() -> None:
    doc = {"status": "claimed", "owner": "other", "lease_until": 15_000}
    assert judge_existing_claim(doc, "me", now=10_000) == HeldElsewhere("other", 15_000)


def test_claim_whose_lease_ran_out_can_be_taken_over() -> None:
    doc = {"status": "grouped", "owner": "dead", "lease_until": 10_000}
    assert judge_existing_claim(doc, "me", now=10_000) == LeaseExpired("dead", 10_000)


def test_own_claim_seen_again_is_still_ours_with_its_token() -> None:
    doc = {"_id": "k", "status": "claimed", "owner": "me", "lease_until": 1, "token": "t1", "takeovers": 2}
    assert judge_existing_claim(doc, "me", now=10_000) == Claimed("k", "t1", 2)


def test_route_keys_mongodb_would_reject_are_made_storable() -> None:
    assert mongo_safe_keys({"/api/v1.0/x": 2, "$where": 1, "/ok": 3}) == {
        "/api/v1\uff0e0/x": 2,
        "\uff04where": 1,
        "/ok": 3,
    }
    doc = alert_document(alert("1.2.3.4", routes={"/a.b": 1}))
    assert doc["routes"] == {"/a\uff0eb": 1} and doc["subject"] == "1.2.3.4"
