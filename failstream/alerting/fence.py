"""Send-once fence: an alert key is claimed in MongoDB before anything is sent.

``alerts._id`` is the alert key, so the unique ``_id`` index lets exactly one
process insert the claim. A claim carries ``owner`` and ``lease_until``: a
process that dies mid-send leaves a claim whose lease runs out, and the next
process to see the alert (Kafka re-delivers it, because offsets are committed
only after an alert is handled) takes it over, so the alert is neither lost
nor sent twice.

A take-over is decided by an insert too, never by a conditional update alone:
FerretDB 1.24 runs an update as read, modify, write without isolation, so two
processes updating the same expired claim at once were both told they won
(and both sent). The take-over's arbiter is a unique ``_id``
``"<key>#<generation>"`` in ``<collection>_takeovers``; only its inserter goes
on to rewrite the claim. Only ``insert``, ``find`` and ``findAndModify`` with
``$set`` are used: all supported by FerretDB 1.24.

Each claim and take-over writes a random ``token``; the holder renews and
finishes with that token, not only its owner name, so work left over from an
older claim of the same process can never finish a newer one. Finishing
(``sent``, ``failed``, ``suppressed``) inserts the next generation's arbiter
first, in the same unique ``_id`` space a take-over needs: a late ``sent``
and a take-over of the same claim can then never both win, whatever
FerretDB's updates do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from failstream.alerting.clock import Clock
from failstream.events import Alert

#: An alert in one of these states is finished: never claimed again.
TERMINAL = frozenset({"sent", "suppressed", "failed"})
#: Claimed and not finished: the owner may still be working on it.
LIVE = ("claimed", "grouped")
#: Lost take-over races in a row before backing off.
MAX_TAKEOVER_RACES = 5


@dataclass(frozen=True)
class Claimed:
    """This process owns the alert now; ``taken_over`` if another owner's lease had run out.

    ``token`` and ``generation`` identify this very claim: renewing and
    finishing match them, so they are carried with the work, not looked up.
    """

    key: str = ""
    token: str = ""
    generation: int = 0
    taken_over: bool = False


@dataclass(frozen=True)
class AlreadyHandled:
    status: str


@dataclass(frozen=True)
class HeldElsewhere:
    """Another live process holds the claim; look again once its lease ends."""

    owner: str
    lease_until: int


@dataclass(frozen=True)
class LeaseExpired:
    """Another owner's lease ran out: try to take the claim over."""

    owner: str
    lease_until: int


FenceDecision = Claimed | AlreadyHandled | HeldElsewhere | LeaseExpired


def judge_existing_claim(doc: Mapping[str, Any], owner: str, now: int) -> FenceDecision:
    """What to do about an alert key somebody already inserted."""
    status = str(doc.get("status", ""))
    if status in TERMINAL:
        return AlreadyHandled(status)
    holder = str(doc.get("owner", ""))
    lease_until = int(doc.get("lease_until", 0))
    if holder == owner:
        return Claimed(str(doc.get("_id", "")), str(doc.get("token", "")), int(doc.get("takeovers") or 0))
    if lease_until <= now:
        return LeaseExpired(holder, lease_until)
    return HeldElsewhere(holder, lease_until)


def new_token() -> str:
    return uuid4().hex


def arbiter_id(key: str, generation: int) -> str:
    return f"{key}#{generation}"


def mongo_safe_keys(counts: Mapping[str, int]) -> dict[str, int]:
    """Count maps keyed by event values (routes!) as MongoDB accepts them.

    Field names may not contain ``.`` or start with ``$``; a route such as
    ``/api/v1.0/items`` would make the whole claim fail. The look-alike
    characters U+FF0E and U+FF04 keep the key readable.
    """
    safe: dict[str, int] = {}
    for key, value in counts.items():
        clean = key.replace(".", "\uff0e")
        if clean.startswith("$"):
            clean = "\uff04" + clean[1:]
        safe[clean] = safe.get(clean, 0) + value
    return safe


def alert_document(alert: Alert) -> dict[str, Any]:
    doc = alert.model_dump()
    for field in ("reasons", "routes", "services"):
        doc[field] = mongo_safe_keys(doc[field])
    return doc


class AlertFence:
    """Claims, renews and finishes alert keys in ``alerts`` on behalf of one process."""

    def __init__(self, alerts: AsyncCollection[dict[str, Any]], owner: str, lease_ms: int, clock: Clock):
        self._alerts = alerts
        self._takeovers = alerts.database[f"{alerts.name}_takeovers"]
        self.owner = owner
        self._lease_ms = lease_ms
        self._clock = clock

    async def claim(self, alert: Alert) -> FenceDecision:
        """Claim the alert key, or say why not (already handled, or held by a live owner)."""
        return await self.claim_key(alert.alert_key, alert_document(alert))

    async def claim_key(self, key: str, document: Mapping[str, Any]) -> FenceDecision:
        """Claim any send-once key (scheduled reports use it too), storing ``document`` with the claim."""
        attempts = 0
        while True:
            now = self._clock()
            token = new_token()
            try:
                await self._alerts.insert_one(
                    {
                        **document,
                        "_id": key,
                        "status": "claimed",
                        "owner": self.owner,
                        "token": token,
                        "takeovers": 0,
                        "lease_until": now + self._lease_ms,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                return Claimed(key, token, 0)
            except DuplicateKeyError:
                pass
            doc = await self._alerts.find_one({"_id": key})
            if doc is None:  # removed between insert and read: insert again
                continue
            decision = judge_existing_claim(doc, self.owner, now)
            if isinstance(decision, Claimed):  # our own claim, seen again: give it a full lease
                if await self.renew_claims([decision]):
                    return decision
                attempts += 1
                if attempts >= MAX_TAKEOVER_RACES:
                    return HeldElsewhere(self.owner, now + 1000)
                continue
            if not isinstance(decision, LeaseExpired):
                return decision
            generation = await self._win_takeover(key, int(doc.get("takeovers") or 0), now)
            taken = None
            if isinstance(generation, int):
                taken = await self._alerts.find_one_and_update(
                    {  # exactly the claim we judged (None also matches a missing field)
                        "_id": key,
                        "status": doc.get("status"),
                        "owner": doc.get("owner"),
                        "lease_until": doc.get("lease_until"),
                        "token": doc.get("token"),
                    },
                    {
                        "$set": {
                            "status": "claimed",
                            "owner": self.owner,
                            "token": token,
                            "lease_until": now + self._lease_ms,
                            "updated_at": now,
                            "takeovers": generation,
                        },
                    },
                )
                if taken is not None:
                    return Claimed(key, token, generation, taken_over=True)
            elif generation is not None:
                return generation
            attempts += 1
            if attempts >= MAX_TAKEOVER_RACES:  # never spin: wait a little and let the caller retry
                return HeldElsewhere(decision.owner, now + 1000)
            # somebody else took it over or finished it first: look again

    async def _win_takeover(self, key: str, done: int, now: int) -> int | HeldElsewhere | None:
        """The take-over generation this process won, the live winner of it, or None to look again.

        A winner that died between its insert and its update leaves an arbiter
        older than a lease: the next generation is then up for grabs.
        """
        generation = done + 1
        for _ in range(MAX_TAKEOVER_RACES):
            try:
                arbiter_doc = {"_id": arbiter_id(key, generation), "owner": self.owner, "at": now}
                await self._takeovers.insert_one(arbiter_doc)
                return generation
            except DuplicateKeyError:
                pass
            arbiter = await self._takeovers.find_one({"_id": arbiter_id(key, generation)})
            if arbiter is None:
                continue
            if arbiter.get("owner") == self.owner:  # ours, from a round whose update found the claim changed
                return generation
            if int(arbiter.get("at") or 0) + self._lease_ms > now:
                # the winner is rewriting the claim now: look again shortly
                return HeldElsewhere(str(arbiter.get("owner")), int(arbiter.get("at") or 0) + 1000)
            generation += 1
        return None

    async def renew_claims(self, claims: Iterable[Claimed]) -> set[str]:
        """Extend the leases of these very claims; returns the keys still held with their token."""
        now = self._clock()
        held: set[str] = set()
        for claim in claims:
            done = await self._alerts.update_one(
                {"_id": claim.key, "token": claim.token, "status": {"$in": list(LIVE)}},
                {"$set": {"lease_until": now + self._lease_ms}},
            )
            if done.matched_count:
                held.add(claim.key)
        return held

    async def mark_claims(self, claims: Iterable[Claimed], status: str, **fields: Any) -> None:
        """Record a live state (``grouped``) of these claims; a claim taken over meanwhile is left alone."""
        update = {"$set": {"status": status, "updated_at": self._clock(), **fields}}
        for claim in claims:
            await self._alerts.update_one({"_id": claim.key, "token": claim.token}, update)

    async def finish(self, claims: Iterable[Claimed], status: str, **fields: Any) -> list[Claimed]:
        """Record a terminal state of these claims; returns those another process took over first.

        The next generation's arbiter is inserted before the status is written:
        whoever inserts it, this finish or a take-over, is the only one to act.
        """
        lost: list[Claimed] = []
        update = {"$set": {"status": status, "updated_at": self._clock(), **fields}}
        for claim in claims:
            if not await self._win_finish(claim):
                lost.append(claim)
                continue
            done = await self._alerts.update_one({"_id": claim.key, "token": claim.token}, update)
            if not done.matched_count:
                # Won the arbiter, yet the claim shows another token: an older write (a renewal
                # racing a take-over, FerretDB writing whole documents) put a previous claim
                # back. No later generation exists, so the claim is ours to finish all the same.
                await self._alerts.update_one(
                    {"_id": claim.key, "takeovers": {"$lte": claim.generation}}, update
                )
        return lost

    async def _win_finish(self, claim: Claimed) -> bool:
        arbiter = {
            "_id": arbiter_id(claim.key, claim.generation + 1),
            "owner": self.owner,
            "token": claim.token,
            "at": self._clock(),
            "finish": True,
        }
        try:
            await self._takeovers.insert_one(arbiter)
            return True
        except DuplicateKeyError:
            # our own insert whose reply was lost to an outage counts as won
            found = await self._takeovers.find_one({"_id": arbiter["_id"]})
            return found is not None and found.get("token") == claim.token

    def still_fresh(self, claimed_at: int) -> bool:
        """A claim younger than half its lease needs no renewal before sending (clock skew margin)."""
        return self._clock() - claimed_at < self._lease_ms // 2
