from __future__ import annotations

from failstream.alerting.grouping import DigestGroups

ONCALL = ("oncall@example.com",)
SECURITY = ("security@example.com",)


def test_group_is_held_for_group_wait_after_its_first_alert() -> None:
    groups: DigestGroups[str] = DigestGroups(wait_ms=10_000)
    groups.add(ONCALL, "a", now=0)
    groups.add(ONCALL, "b", now=9_000)
    assert groups.pop_due(now=9_999) == []
    assert groups.next_due_at() == 10_000
    [due] = groups.pop_due(now=10_000)
    assert due.items == ["a", "b"] and due.recipients == ONCALL
    assert len(groups) == 0 and groups.next_due_at() is None


def test_zero_group_wait_sends_each_alert_at_once() -> None:
    groups: DigestGroups[str] = DigestGroups(wait_ms=0)
    groups.add(ONCALL, "a", now=5)
    assert [g.items for g in groups.pop_due(now=5)] == [["a"]]


def test_different_recipients_get_separate_groups() -> None:
    groups: DigestGroups[str] = DigestGroups(wait_ms=1_000)
    groups.add(ONCALL, "a", now=0)
    groups.add(SECURITY, "b", now=500)
    assert [g.items for g in groups.pop_due(now=1_000)] == [["a"]]
    assert [g.items for g in groups.pop_due(now=1_500)] == [["b"]]


def test_alert_after_a_group_left_opens_a_new_group() -> None:
    groups: DigestGroups[str] = DigestGroups(wait_ms=1_000)
    groups.add(ONCALL, "a", now=0)
    groups.pop_due(now=1_000)
    groups.add(ONCALL, "b", now=1_200)
    assert groups.pop_due(now=2_100) == []
    assert groups.items() == ["b"]


def test_shutdown_takes_every_group_due_or_not() -> None:
    groups: DigestGroups[str] = DigestGroups(wait_ms=60_000)
    groups.add(ONCALL, "a", now=0)
    groups.add(SECURITY, "b", now=1)
    assert [g.items for g in groups.pop_all()] == [["a"], ["b"]]
    assert len(groups) == 0
