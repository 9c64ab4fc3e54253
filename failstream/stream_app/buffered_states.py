"""Decoded detection states over a table, written to it in flushes.

Why: decoding a state costs about 10 µs, and every table write is one
changelog record through Faust's producer; an IP that fails twenty times
between two offset commits needs neither twenty times. Changed states stay
decoded here until ``flush`` writes each once. The worker acks a message
only after the flush that stored its effect, and Faust commits only acked
offsets, after flushing its producer: a committed offset never runs ahead
of the changelog, and a crash replays from the last commit onto the last
flushed states (Kafka Streams' state-store cache works the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, TypeVar

S = TypeVar("S")


class BufferedStates(Generic[S]):
    def __init__(
        self,
        table: MutableMapping[bytes, bytes],
        decode: Callable[[bytes | None], S],
        encode: Callable[[S], bytes],
    ) -> None:
        self.table = table
        self._decode = decode
        self._encode = encode
        self._changed: dict[bytes, S | None] = {}  # None: to be deleted

    def __len__(self) -> int:
        """Changed states not yet flushed."""
        return len(self._changed)

    def get(self, key: bytes) -> S:
        """The newest state of ``key``; changes made to it must be reported with ``put``."""
        if key in self._changed:
            state = self._changed[key]
            return self._decode(None) if state is None else state
        return self._decode(self.table.get(key))

    def put(self, key: bytes, state: S) -> None:
        self._changed[key] = state

    def delete(self, key: bytes) -> None:
        self._changed[key] = None

    def items(self) -> Iterator[tuple[bytes, S]]:
        """Every key's newest state, the table's and the changed ones."""
        changed = self._changed
        for key in list(self.table.keys()):
            if key not in changed:
                yield key, self._decode(self.table.get(key))
        for key, state in list(changed.items()):
            if state is not None:
                yield key, state

    def take_changes(self) -> dict[bytes, bytes | None]:
        """The changed states, encoded (None: delete the key), and forget them here.

        The caller writes them to the table before anything reads it again.
        """
        changed, self._changed = self._changed, {}
        return {key: None if state is None else self._encode(state) for key, state in changed.items()}

    def flush(self) -> int:
        """Write every changed state into the table mapping itself; return how many."""
        changes = self.take_changes()
        for key, raw in changes.items():
            if raw is None:
                self.table.pop(key, None)
            else:
                self.table[key] = raw
        return len(changes)
