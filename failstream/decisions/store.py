"""Decisions in MongoDB: one document per subject, and a change log read in order.

``decisions`` (``_id`` = the subject) says what is decided now: ``active``,
``until``, the alert, and how it ended (``ended_by``: ``expired`` or
``lifted``). ``decision_changes`` logs every add and remove under a sequence
number (``_id``) that the bouncer feed's cursor and the Kafka relay follow.

The sequence is claimed by inserting it (the unique ``_id`` decides), never
by a counter update: FerretDB 1.24 runs updates without isolation. A writer
takes ``last + 1`` and moves on after a duplicate, so number ``n`` is
inserted only after ``n - 1`` is, and a reader that sees ``n`` sees every
earlier one: reading ``_id > cursor`` in order skips nothing.

Each change is logged before the document is written, so a crash in
between leaves a logged change that the re-delivered alert (or the retried
DELETE) logs and writes again: a change can be repeated, never lost.
Consumers apply them idempotently (the last change of a subject wins).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import uuid4

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from failstream.decisions.model import Decision

Op = Literal["add", "remove"]
EndedBy = Literal["expired", "lifted"]

#: How long the change log and ended decisions are kept; a feed cursor older than this starts over.
RETENTION_MS = 7 * 86_400_000


@dataclass(frozen=True)
class Change:
    seq: int
    op: Op
    subject: str
    decision: Decision | None  # an add's decision; None for a remove
    reason: str  # a remove's: expired or lifted
    at: int


def change_of(doc: dict[str, Any]) -> Change:
    decision = Decision.model_validate(doc["decision"]) if doc.get("decision") else None
    return Change(
        int(doc["_id"]),
        doc["op"],
        str(doc["subject"]),
        decision,
        str(doc.get("reason") or ""),
        int(doc["at"]),
    )


class DecisionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._decisions = db.decisions
        self._changes = db.decision_changes
        self._log_lock = asyncio.Lock()
        self._last_seq = 0

    # --- writes -------------------------------------------------------------

    async def record(self, decision: Decision, now: int) -> bool:
        """Decide (or extend) ``decision``; False when nothing changes.

        Nothing changes when an active decision of the subject lasts as long
        already (a re-delivered alert), or when the subject's decision was
        lifted after this alert was made (an admin said no; a later alert
        decides again).
        """
        doc = await self._decisions.find_one({"_id": decision.subject})
        if doc is not None:
            if doc.get("active") and int(doc.get("until", 0)) >= decision.until:
                return False
            if doc.get("ended_by") == "lifted" and decision.decided_at <= int(doc.get("ended_at") or 0):
                return False
        await self._log("add", decision.subject, now, decision=decision)
        update = {
            "$max": {"until": decision.until},
            "$set": {
                **decision.model_dump(exclude={"until"}),
                "active": True,
                "ended_at": None,
                "ended_by": None,
                "updated_at": now,
            },
            "$setOnInsert": {"created_at": now},
        }
        try:
            after = await self._decisions.find_one_and_update(
                {"_id": decision.subject}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            # two alerts of a new subject upserted at once and the other inserted first (MongoDB
            # retries such an upsert itself, FerretDB does not): the document exists now
            after = await self._decisions.find_one_and_update(
                {"_id": decision.subject}, update, return_document=ReturnDocument.AFTER
            )
        if after is not None and int(after["until"]) != decision.until:
            # two alerts of the subject at once: the document kept the longer; the log ends with it
            await self._log("add", decision.subject, now, decision=decision_of(after))
        return True

    async def lift(self, subject: str, now: int, by: str) -> bool:
        """End the subject's active decision early; False when it has none."""
        doc = await self._decisions.find_one({"_id": subject, "active": True, "until": {"$gt": now}})
        if doc is None:
            return False
        await self._log("remove", subject, now, reason="lifted")
        await self._decisions.update_one(
            {"_id": subject},
            {
                "$set": {
                    "active": False,
                    "ended_at": now,
                    "ended_by": "lifted",
                    "lifted_by": by,
                    "updated_at": now,
                }
            },
        )
        return True

    async def expire_due(self, now: int) -> list[str]:
        """Remove the decisions whose ``until`` has passed; returns their subjects."""
        expired: list[str] = []
        async for doc in self._decisions.find({"active": True, "until": {"$lte": now}}):
            subject, until = str(doc["_id"]), int(doc["until"])
            await self._log("remove", subject, now, reason="expired")
            await self._decisions.update_one(
                {"_id": subject, "active": True, "until": until},
                {"$set": {"active": False, "ended_at": until, "ended_by": "expired", "updated_at": now}},
            )
            expired.append(subject)
            # extended by an alert meanwhile: its add must come after this remove
            again = await self._decisions.find_one({"_id": subject, "active": True, "until": {"$gt": now}})
            if again is not None:
                await self._log("add", subject, now, decision=decision_of(again))
        return expired

    async def sweep_old(self, now: int) -> None:
        """Forget changes and ended decisions older than the retention."""
        cutoff = now - RETENTION_MS
        last = await self.last_seq()
        # the newest change stays, whatever its age: the next sequence number continues from it
        await self._changes.delete_many({"at": {"$lt": cutoff}, "_id": {"$lt": last}})
        await self._decisions.delete_many({"active": False, "ended_at": {"$lt": cutoff}})

    async def _log(
        self, op: Op, subject: str, now: int, *, decision: Decision | None = None, reason: str = ""
    ) -> int:
        async with self._log_lock:  # this process's writers never race each other for a number
            return await self._append(op, subject, now, decision, reason)

    async def _append(self, op: Op, subject: str, now: int, decision: Decision | None, reason: str) -> int:
        token = uuid4().hex
        # the number after this process's last one, unless another process wrote since (a duplicate)
        seq = (self._last_seq or await self.last_seq()) + 1
        while True:
            doc = {
                "_id": seq,
                "op": op,
                "subject": subject,
                "decision": None if decision is None else decision.model_dump(),
                "reason": reason,
                "at": now,
                "token": token,
            }
            try:
                await self._changes.insert_one(doc)
                self._last_seq = seq
                return seq
            except DuplicateKeyError:
                found = await self._changes.find_one({"_id": seq}, {"token": 1})
                if found is not None and found.get("token") == token:
                    self._last_seq = seq
                    return seq  # our own insert, whose answer was lost
                seq = max(seq, await self.last_seq()) + 1  # another process took it: go past its newest

    # --- reads ----------------------------------------------------------------

    async def last_seq(self) -> int:
        doc = await self._changes.find_one({}, {"_id": 1}, sort=[("_id", -1)])
        return 0 if doc is None else int(doc["_id"])

    async def first_seq(self) -> int:
        doc = await self._changes.find_one({}, {"_id": 1}, sort=[("_id", 1)])
        return 0 if doc is None else int(doc["_id"])

    async def changes_since(self, seq: int, limit: int) -> list[Change]:
        cursor = self._changes.find({"_id": {"$gt": seq}}).sort("_id", 1).limit(limit)
        return [change_of(doc) async for doc in cursor]

    async def active(self, now: int, after: str = "", limit: int = 0) -> list[Decision]:
        """Active decisions by subject, after ``after``; ``limit`` 0: all of them."""
        query: dict[str, Any] = {"active": True, "until": {"$gt": now}}
        if after:
            query["_id"] = {"$gt": after}
        cursor = self._decisions.find(query).sort("_id", 1)
        if limit:
            cursor = cursor.limit(limit)
        return [decision_of(doc) async for doc in cursor]

    async def all_subjects(self) -> Sequence[tuple[str, Decision | None]]:
        """Every kept subject with its active decision (None: ended), for the relay's start."""
        out: list[tuple[str, Decision | None]] = []
        async for doc in self._decisions.find({}).sort("_id", 1):
            out.append((str(doc["_id"]), decision_of(doc) if doc.get("active") else None))
        return out


def decision_of(doc: dict[str, Any]) -> Decision:
    return Decision.model_validate({**doc, "subject": doc["_id"]})
