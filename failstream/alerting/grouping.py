"""Grouping: alerts that arrive within ``group_wait`` leave as one digest.

Like Alertmanager's ``group_wait``: the first alert for a set of recipients
opens a group, and the group is sent ``group_wait`` later with everything
that joined it meanwhile. Zero disables grouping (each alert is due at once).
Pure and clock-injected: the caller says what time it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class PendingGroup(Generic[T]):
    recipients: tuple[str, ...]
    due_at: int
    items: list[T] = field(default_factory=list)


class DigestGroups(Generic[T]):
    def __init__(self, wait_ms: int) -> None:
        self._wait_ms = wait_ms
        self._groups: dict[tuple[str, ...], PendingGroup[T]] = {}

    def add(self, recipients: tuple[str, ...], item: T, now: int) -> None:
        group = self._groups.get(recipients)
        if group is None:
            group = self._groups[recipients] = PendingGroup(recipients, now + self._wait_ms)
        group.items.append(item)

    def pop_due(self, now: int) -> list[PendingGroup[T]]:
        """Groups whose wait is over, oldest first, removed from the pending set."""
        due = sorted((g for g in self._groups.values() if g.due_at <= now), key=lambda g: g.due_at)
        for group in due:
            del self._groups[group.recipients]
        return due

    def pop_all(self) -> list[PendingGroup[T]]:
        """Everything, due or not: for a graceful shutdown that should not leave claims to expire."""
        groups = sorted(self._groups.values(), key=lambda g: g.due_at)
        self._groups.clear()
        return groups

    def next_due_at(self) -> int | None:
        return min((g.due_at for g in self._groups.values()), default=None)

    def items(self) -> list[T]:
        return [item for group in self._groups.values() for item in group.items]

    def __len__(self) -> int:
        return sum(len(g.items) for g in self._groups.values())
