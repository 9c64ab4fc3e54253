"""The event ids a detection state has counted, so a re-published copy of an event counts once.

A producer can publish one event twice under its one ``event_id`` (the
capture spool replaying a segment Kafka had partly taken, alerting's outbox
relay stopped between Kafka's acknowledgement and its delete): the copy sits
at a new offset, so the offset guard of a state lets it through, and only
its id tells it apart. A copy carries its original's ``ts``, so ids are kept
by second of event time and a copy is looked for in its own second only.
They are kept as CRC-32 hashes, as the per-IP state keeps its recent ids
(stable across processes, since they are stored): in one second two of a key's
ids collide about once in 2**32 / n events, which drops one event from
detection, never from the stored counts.

The owner forgets the seconds that no copy could count in any more
(:meth:`CountedIds.forget_before`), so the memory spans what its rule still
accepts, and it holds at most :data:`MAX_IDS` ids (the oldest seconds go
first), which keeps a busy key's state, written to the changelog as one
record, well under Kafka's 1 MB record limit.
"""

from __future__ import annotations

import zlib
from typing import Any

#: Ids remembered per state at most: ~11 bytes each in the state's JSON.
MAX_IDS = 20_000


class CountedIds:
    """Hashes of counted event ids, per second of the events' time."""

    __slots__ = ("_by_second", "_size")

    def __init__(self, by_second: dict[int, set[int]] | None = None) -> None:
        self._by_second: dict[int, set[int]] = by_second if by_second is not None else {}
        self._size = sum(len(ids) for ids in self._by_second.values())

    def __len__(self) -> int:
        return self._size

    def add(self, event_id: str, ts: int) -> bool:
        """Remember the event; False if it was counted already (a copy, to be ignored)."""
        second = ts // 1000
        digest = zlib.crc32(event_id.encode())
        seen = self._by_second.get(second)
        if seen is None:
            seen = self._by_second[second] = set()
        elif digest in seen:
            return False
        seen.add(digest)
        self._size += 1
        if self._size > MAX_IDS:
            self._drop_oldest()
        return True

    def forget_before(self, ts: int) -> None:
        """Forget the events of every second that lies wholly before ``ts``."""
        horizon = ts // 1000
        old = [second for second in self._by_second if second < horizon]
        for second in old:
            self._size -= len(self._by_second.pop(second))

    def _drop_oldest(self) -> None:
        while self._size > MAX_IDS and self._by_second:
            self._size -= len(self._by_second.pop(min(self._by_second)))

    def to_json(self) -> list[Any]:
        return [[second, list(ids)] for second, ids in self._by_second.items()]

    @classmethod
    def from_json(cls, data: list[Any]) -> CountedIds:
        return cls({second: set(ids) for second, ids in data})


class AppliedIds:
    """Hashes of the event ids a per-IP or per-prefix state applied, each with its second of event time.

    The hot path's variant of :class:`CountedIds`: one flat dict (hash ->
    second), so a failure costs one look-up and one store, and the owner
    forgets in passes it spaces out itself (:meth:`forget_before`), not per
    event. A copy is recognised by its hash alone: with n ids held, a new id
    collides with one of them about once in 2**32 / n events (n is at most
    :data:`MAX_IDS`), which drops that one event from detection, never from
    the stored counts. Stored as two flat lists, the hashes and their ages in
    seconds before a base the owner gives (its newest second): a few bytes an id.
    """

    __slots__ = ("_second_of", "oldest")

    def __init__(self, second_of: dict[int, int] | None = None) -> None:
        self._second_of: dict[int, int] = second_of if second_of is not None else {}
        #: the oldest second held (a forgetting pass with a horizon at or below it does nothing)
        self.oldest = min(self._second_of.values(), default=_NEVER)

    def __len__(self) -> int:
        return len(self._second_of)

    def __contains__(self, digest: int) -> bool:
        return digest in self._second_of

    def add(self, digest: int, second: int) -> bool:
        """Remember an id hash; False if it was applied already (a copy, to be ignored)."""
        second_of = self._second_of
        if digest in second_of:
            return False
        second_of[digest] = second
        if second < self.oldest:
            self.oldest = second
        if len(second_of) > MAX_IDS:
            self._drop_oldest()
        return True

    def forget_before(self, ts: int) -> None:
        """Forget the ids of every second that lies wholly before ``ts``."""
        horizon = ts // 1000
        if horizon <= self.oldest:
            return
        self._second_of = {d: s for d, s in self._second_of.items() if s >= horizon}
        self.oldest = min(self._second_of.values(), default=_NEVER)

    def _drop_oldest(self) -> None:
        # to three quarters of the cap, so a flood pays for this pass once per quarter of the cap
        keep = MAX_IDS * 3 // 4
        cut = sorted(self._second_of.values())[-keep]
        kept = {d: s for d, s in self._second_of.items() if s >= cut}
        if len(kept) > MAX_IDS:  # one second holds more than the cap: its ids go too
            kept = {d: s for d, s in kept.items() if s > cut}
        self._second_of = kept
        self.oldest = min(kept.values(), default=_NEVER)

    def to_lists(self, base: int) -> tuple[list[int], list[int]]:
        """The hashes and their ages, ``base`` less their second."""
        second_of = self._second_of
        return list(second_of), list(map(base.__sub__, second_of.values()))

    @classmethod
    def from_lists(cls, hashes: list[int], ages: list[list[int]], base: int) -> AppliedIds:
        """Inverse of :meth:`to_lists`; ``ages`` holds the ages list, or nothing for a state
        stored before ids were kept by second (its last four hashes): those are taken as of
        ``base``, the owner's newest second, so they are kept as long as the newest of them could need.
        """
        if not ages:
            return cls(dict.fromkeys(hashes, base))
        return cls(dict(zip(hashes, map(base.__sub__, ages[0]), strict=True)))


#: Above any second: the oldest of no ids.
_NEVER = 1 << 62
