"""The feed's cursor and how a page of changes folds into added and removed."""

from __future__ import annotations

import pytest

from failstream.decisions.feed import CursorError, Position, decode, encode, fold
from failstream.decisions.model import Decision
from failstream.decisions.store import Change


def add(seq: int, subject: str, until: int = 10_000) -> Change:
    decision = Decision(subject=subject, kind="ip", rule="r", alert_key=f"k{seq}", until=until, decided_at=1)
    return Change(seq, "add", subject, decision, "", 100 + seq)


def remove(seq: int, subject: str, reason: str = "lifted") -> Change:
    return Change(seq, "remove", subject, None, reason, 100 + seq)


def test_cursors_round_trip_and_others_are_refused() -> None:
    for position in (Position(0), Position(42), Position(7, ""), Position(7, "2001:db8::/64")):
        assert decode(encode(position)) == position
    for bad in ("", "x1", "s", "s1.2", "p.1", "s-1", "p1" + "x" * 300):
        with pytest.raises(CursorError):
            decode(bad)


def test_each_subjects_last_change_wins() -> None:
    added, removed = fold(
        [
            add(1, "10.0.0.1"),
            add(2, "10.0.0.2"),
            remove(3, "10.0.0.1"),
            add(4, "10.0.0.3"),
            remove(5, "10.0.0.3"),
        ],
        now=1_000,
    )
    assert [d.subject for d in added] == ["10.0.0.2"]
    assert [(r.subject, r.reason) for r in removed] == [("10.0.0.1", "lifted"), ("10.0.0.3", "lifted")]
    added, removed = fold([remove(1, "10.0.0.1"), add(2, "10.0.0.1")], now=1_000)
    assert [d.subject for d in added] == ["10.0.0.1"] and removed == []


def test_an_add_whose_time_is_up_is_a_removal() -> None:
    added, removed = fold([add(1, "10.0.0.1", until=500)], now=1_000)
    assert added == [] and [(r.subject, r.reason, r.at) for r in removed] == [("10.0.0.1", "expired", 500)]
