"""Fan-out of released seconds to every connected client, with replay for reconnects.

``publish`` never waits: it appends the second to each client's own bounded
buffer and returns, so one slow client can't hold up the others. A client
whose buffer is full is dropped on the spot (its connection closes and, if it
comes back, it resumes from its last ``ts``). Each connection drains its own
buffer in its own task, with a send timeout (see ``api.live.routes``).

A short ring of recent seconds lets a reconnecting client resume: it
subscribes with the last ``ts`` it saw and first receives what it missed.
Subscribing takes the replay and registers the client in one step (no
``await`` between), so nothing is sent twice and nothing falls in between.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pushed:
    """One second as it goes out: its resume id and its encoded message."""

    ts: int
    text: str


class Subscription:
    """One client's buffer: at most ``capacity`` unsent seconds, then it is dropped."""

    def __init__(self, hub: LiveHub, backlog: Iterable[Pushed], capacity: int, since: int | None) -> None:
        self._hub = hub
        self._since = since
        self._items: deque[Pushed] = deque(backlog)
        self._capacity = capacity + len(self._items)  # the replay never counts against the client
        self._ready = asyncio.Event()
        self.closed = False
        self.dropped = False
        if self._items:
            self._ready.set()

    def offer(self, item: Pushed) -> bool:
        """Queue ``item``; False (and the client dropped) when the buffer is full."""
        if self.closed:
            return False
        if self._since is not None and item.ts <= self._since:
            return True  # seen before the reconnect
        if len(self._items) >= self._capacity:
            self.drop()
            return False
        self._items.append(item)
        self._ready.set()
        return True

    def replay(self, items: Iterable[Pushed]) -> None:
        """Add history this client asked for (beyond its buffer limit, like the first replay)."""
        if self.closed:
            return
        wanted = [i for i in items if self._since is not None and i.ts > self._since]
        self._items.extend(wanted)
        self._capacity += len(wanted)
        if wanted:
            self._since = wanted[-1].ts
            self._ready.set()

    async def next(self) -> Pushed | None:
        """The next second to send; None once the subscription is closed or dropped."""
        while not self._items:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        if self.closed:
            return None
        return self._items.popleft()

    def drop(self) -> None:
        """Give up on a client that is too slow (full buffer, or a send that timed out)."""
        if not self.closed:
            self.dropped = True
            self._hub.dropped += 1
            self.close()

    def close(self) -> None:
        """Stop delivering (idempotent); a waiting ``next()`` returns None."""
        if not self.closed:
            self.closed = True
            self._items.clear()
            self._ready.set()
            self._hub.discard(self)


class LiveHub:
    """Every subscription of this process and the ring of recent seconds."""

    def __init__(self, *, replay: int, client_queue: int) -> None:
        self._ring: deque[Pushed] = deque(maxlen=replay)
        self._subs: set[Subscription] = set()
        self._client_queue = client_queue
        self.dropped = 0  # clients dropped as too slow, since start (metrics, tests)

    @property
    def clients(self) -> int:
        return len(self._subs)

    @property
    def latest(self) -> int | None:
        return self._ring[-1].ts if self._ring else None

    def publish(self, item: Pushed) -> None:
        self._ring.append(item)
        for sub in list(self._subs):
            sub.offer(item)

    def preload(self, items: Iterable[Pushed]) -> None:
        """History read at start-up: into the ring for replay, and to clients resuming from it.

        A fresh client is not sent the history (it asked for now on); a resuming
        client that came before the history was read gets what it asked for.
        """
        history = list(items)
        self._ring.extend(history)
        for sub in list(self._subs):
            sub.replay(history)

    def subscribe(self, since: int | None = None) -> Subscription:
        """A new subscription; with ``since``, first the ring's seconds after it.

        Only seconds after ``since`` are ever delivered, also live ones: a client
        that resumes on a process that is a moment behind gets no duplicates.
        """
        backlog = [p for p in self._ring if p.ts > since] if since is not None else []
        sub = Subscription(self, backlog, self._client_queue, since)
        self._subs.add(sub)
        return sub

    def discard(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def close_all(self) -> None:
        for sub in list(self._subs):
            sub.close()
