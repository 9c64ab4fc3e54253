"""The bouncer feed: the active decisions first, then what was added and removed since a cursor.

A bouncer starts without a cursor and gets the active decisions, a page at a
time; it then passes the ``cursor`` it was given back as ``since`` and gets
what changed after it, the way CrowdSec's bouncers pull their stream. The
cursor is opaque: ``p<seq>.<subject>`` while the first listing is paged (its
changes start from ``seq``), ``s<seq>`` for changes after change ``seq``.

The listing starts ``REPLAY_MARGIN`` changes before the newest one: a change
is logged before its document is written (``store``), so one logged just
before the listing and written just after it is in those replayed changes.
Replays are harmless: the last change of a subject wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from failstream.decisions.model import Decision
from failstream.decisions.store import Change, DecisionStore

REPLAY_MARGIN = 200


class CursorError(ValueError):
    """The cursor is not one this feed gave out."""


class CursorExpired(CursorError):
    """The changes after the cursor are past the retention: start again without one."""


@dataclass(frozen=True)
class Position:
    seq: int
    #: while the first listing is paged: the last subject listed ("" before the first page)
    after: str | None = None


def encode(position: Position) -> str:
    if position.after is None:
        return f"s{position.seq}"
    return f"p{position.seq}.{position.after}"


def decode(cursor: str) -> Position:
    kind, rest = cursor[:1], cursor[1:]
    seq_text, dot, after = rest.partition(".")
    if kind not in ("s", "p") or not seq_text.isdigit() or (kind == "s" and dot) or len(cursor) > 200:
        raise CursorError("not a cursor from this feed (start again without since)")
    return Position(int(seq_text), after if kind == "p" else None)


@dataclass(frozen=True)
class Removed:
    subject: str
    reason: str
    at: int


@dataclass
class FeedPage:
    added: list[Decision] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)
    cursor: str = ""
    #: more is waiting: ask again at once with ``cursor``
    more: bool = False


def fold(changes: list[Change], now: int) -> tuple[list[Decision], list[Removed]]:
    """The last change of each subject; an add whose time is already up is a removal."""
    last: dict[str, Change] = {}
    for change in changes:
        last.pop(change.subject, None)  # keep the order of each subject's last change
        last[change.subject] = change
    added: list[Decision] = []
    removed: list[Removed] = []
    for change in last.values():
        decision = change.decision
        if change.op == "add" and decision is not None and decision.until > now:
            added.append(decision)
        elif change.op == "add" and decision is not None:
            removed.append(Removed(change.subject, "expired", decision.until))
        else:
            removed.append(Removed(change.subject, change.reason or "expired", change.at))
    return added, removed


async def read_page(store: DecisionStore, since: str | None, limit: int, now: int) -> FeedPage:
    """One page of the feed after ``since`` (None: from the start)."""
    position = decode(since) if since else None
    if position is None:
        start = max(await store.last_seq() - REPLAY_MARGIN, 0)
        position = Position(start, "")
    if position.after is not None:
        listed = await store.active(now, after=position.after, limit=limit + 1)
        more = len(listed) > limit
        listed = listed[:limit]
        nxt = Position(position.seq, listed[-1].subject) if more else Position(position.seq)
        return FeedPage(added=listed, cursor=encode(nxt), more=more)
    if position.seq < await store.first_seq() - 1:
        raise CursorExpired("the changes after this cursor are no longer kept: start again without since")
    changes = await store.changes_since(position.seq, limit + 1)
    more = len(changes) > limit
    changes = changes[:limit]
    added, removed = fold(changes, now)
    seq = changes[-1].seq if changes else position.seq
    return FeedPage(added=added, removed=removed, cursor=encode(Position(seq)), more=more)
