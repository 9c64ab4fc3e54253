from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import BulkWriteError

from failstream.alerting.email_event_relay import is_orphaned
from failstream.alerting.email_events import EmailEventPublisher
from failstream.events import EmailEvent


class _Outbox:
    """insert_many as MongoDB answers it: duplicate ``_id``s refused, the others written."""

    def __init__(self, lose_first_reply: bool = False) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self._lose_reply = lose_first_reply

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        errors = []
        for i, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                errors.append({"index": i, "code": 11000, "errmsg": "duplicate key"})
            else:
                self.docs[doc["_id"]] = doc
        if errors:
            raise BulkWriteError({"writeErrors": errors})
        if self._lose_reply:
            self._lose_reply = False
            raise ConnectionError("reply lost")


async def test_each_transition_is_one_outbox_event_per_recipient_domain_keyed_by_domain() -> None:
    outbox, woken = _Outbox(), []
    publisher = EmailEventPublisher(outbox, "owner-1", lambda: woken.append(1))  # type: ignore[arg-type]
    await publisher.publish("<m1@failstream>", ["a@x.com", "b@x.com", "c@y.org"], "RETRYING", 2, "421 busy")
    docs = list(outbox.docs.values())
    assert [(d["key"], d["owner"]) for d in docs] == [("x.com", "owner-1"), ("y.org", "owner-1")]
    event = EmailEvent.model_validate_json(docs[0]["value"])
    assert (event.status, event.attempt, event.error, event.message_id) == (
        "retrying",
        2,
        "421 busy",
        "<m1@failstream>",
    )
    assert event.service == "failstream-alerting" and docs[0]["_id"] == event.event_id
    assert woken == [1]


async def test_a_retry_after_a_lost_reply_writes_the_same_events_once() -> None:
    outbox = _Outbox(lose_first_reply=True)
    publisher = EmailEventPublisher(outbox, "owner-1")  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await publisher.publish("<m2@failstream>", ["a@x.com"], "SENT", 1)
    await publisher.publish("<m2@failstream>", ["a@x.com"], "SENT", 1)  # the caller's Held retry
    assert len(outbox.docs) == 1
    publisher.recorded("<m2@failstream>", "SENT", 1)
    await publisher.publish("<m2@failstream>", ["a@x.com"], "SENT", 1)  # recorded: a new transition
    assert len(outbox.docs) == 2


def test_an_owner_is_orphaned_only_when_both_its_heartbeat_and_newest_event_are_old() -> None:
    assert is_orphaned(seen_at=1_000, newest_at=2_000, now=40_000, orphan_ms=30_000)
    assert not is_orphaned(seen_at=35_000, newest_at=2_000, now=40_000, orphan_ms=30_000)  # beating
    assert not is_orphaned(seen_at=0, newest_at=20_000, now=40_000, orphan_ms=30_000)  # not beating yet
