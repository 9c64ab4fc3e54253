"""The event ids a detection state has counted, so a re-published copy of an event counts once.

A producer can publish one event twice under its one ``event_id`` (the
capture spool replaying a segment Kafka had partly taken, alerting's outbox
relay stopped between Kafka's acknowledgement and its delete): the copy sits
at a new offset, so the offset guard of a state lets it through, and only
its id tells it apart. A copy carries its original's ``ts``, so ids are kept
by second of event time. They are kept as CRC-32 hashes (stable across
processes, since they are stored): two of a key's ids colliding drops one
event from detection, never from the stored counts.

The owner forgets the seconds that no copy could count in any more
(``forget_before``), so the memory spans what its rule still accepts, and it
holds at most :data:`MAX_IDS` ids (the oldest seconds go first), which keeps
a busy key's state, written to the changelog as one record, well under
Kafka's 1 MB record limit. :class:`CountedIds` serves the email rule (a
set per second, a copy looked for in its own second only); :class:`AppliedIds`
the per-IP and per-prefix states on the failures' hot path.
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

    The hot path's variant of :class:`CountedIds`: two flat lists, the hashes
    and their ages in seconds before a base second, exactly as they are
    stored, so decoding and encoding a state costs no per-id work; a state
    holds a handful of ids, and scanning that list is cheaper than building
    a set, which is only built past :data:`INDEX_FROM` ids. The owner forgets
    in passes it spaces out itself (:meth:`forget_before`), not per event.
    A copy is recognised by its hash alone: with n ids held, a new id
    collides with one of them about once in 2**32 / n events (n is at most
    :data:`MAX_IDS`), which drops that one event from detection, never from
    the stored counts.
    """

    __slots__ = ("_ages", "_base", "_hashes", "_index")

    def __init__(self, hashes: list[int] | None = None, ages: list[int] | None = None, base: int = 0) -> None:
        self._hashes: list[int] = hashes if hashes is not None else []
        # stored without ages (before ids were kept by second): taken as of the base second
        self._ages: list[int] = ages if ages is not None else [0] * len(self._hashes)
        self._base = base
        self._index: set[int] | None = set(self._hashes) if len(self._hashes) > INDEX_FROM else None

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, digest: int) -> bool:
        return digest in (self._hashes if self._index is None else self._index)

    def add(self, digest: int, second: int) -> bool:
        """Remember an id hash; False if it was applied already (a copy, to be ignored)."""
        index = self._index
        if index is not None:
            if digest in index:
                return False
            index.add(digest)
        elif digest in self._hashes:
            return False
        elif len(self._hashes) >= INDEX_FROM:
            self._index = {digest, *self._hashes}
        self._hashes.append(digest)
        self._ages.append(self._base - second)
        if len(self._hashes) > MAX_IDS:
            self._keep_newest(MAX_IDS * 3 // 4)  # a flood pays for this once per quarter of the cap
        return True

    def forget_before(self, ts: int) -> int | None:
        """Forget the ids of every second that lies wholly before ``ts``; return the oldest second left."""
        ages = self._ages
        if not ages:
            return None
        limit = self._base - ts // 1000  # the oldest age kept
        oldest = max(ages)
        if oldest > limit:
            kept = [i for i, age in enumerate(ages) if age <= limit]
            self._replace([self._hashes[i] for i in kept], [ages[i] for i in kept])
            if not kept:
                return None
            oldest = max(self._ages)
        return self._base - oldest

    def _keep_newest(self, n: int) -> None:
        ages = self._ages
        cut = sorted(ages)[n - 1]
        kept = [i for i, age in enumerate(ages) if age <= cut]
        if len(kept) > MAX_IDS:  # one second holds more than the cap: its ids go too
            kept = [i for i, age in enumerate(ages) if age < cut]
        self._replace([self._hashes[i] for i in kept], [ages[i] for i in kept])

    def _replace(self, hashes: list[int], ages: list[int]) -> None:
        self._hashes, self._ages = hashes, ages
        self._index = set(hashes) if len(hashes) > INDEX_FROM else None

    def to_lists(self, base: int) -> tuple[list[int], list[int]]:
        """The hashes and their ages before ``base`` (the owner's newest second), to store as they are."""
        shift = base - self._base
        return self._hashes, [age + shift for age in self._ages] if shift else self._ages

    @classmethod
    def from_lists(cls, hashes: list[int], ages: list[list[int]], base: int) -> AppliedIds:
        """Inverse of :meth:`to_lists`; ``ages`` holds the ages list, or nothing for a state stored
        before ids were kept by second (its last four hashes), which are taken as of ``base``, so
        they are kept as long as the newest of them could need.
        """
        return cls(hashes, ages[0] if ages else None, base)


#: Ids held from which a state's look-ups go through a set.
INDEX_FROM = 32
