from __future__ import annotations

from datetime import UTC, datetime

from failstream.alerting.silence import mutes
from tests.unit.alerting.factories import T0, alert


def test_silence_on_subject_mutes_only_that_subject_until_it_ends() -> None:
    silence = {"subject": "10.0.0.1", "until": T0 + 1000, "reason": "pen test"}
    assert mutes(silence, alert("10.0.0.1"), now=T0)
    assert not mutes(silence, alert("10.0.0.2"), now=T0)
    assert not mutes(silence, alert("10.0.0.1"), now=T0 + 1000)


def test_silence_on_rule_mutes_every_subject_of_that_rule() -> None:
    silence = {"rule": "ip-failures", "until": T0 + 1000}
    assert mutes(silence, alert("10.0.0.7"), now=T0)
    assert not mutes(silence, alert("10.0.0.7", rule="ip-route-failures"), now=T0)


def test_silence_with_subject_and_rule_needs_both_to_match() -> None:
    silence = {"subject": "10.0.0.1", "rule": "other-rule", "until": T0 + 1000}
    assert not mutes(silence, alert("10.0.0.1"), now=T0)


def test_silence_naming_neither_subject_nor_rule_mutes_nothing() -> None:
    assert not mutes({"until": T0 + 1000, "reason": "typo"}, alert(), now=T0)


def test_silence_until_may_be_a_datetime() -> None:
    until = datetime.fromtimestamp((T0 + 5000) / 1000, tz=UTC)
    assert mutes({"subject": "10.0.0.1", "until": until}, alert("10.0.0.1"), now=T0)
    assert not mutes({"subject": "10.0.0.1", "until": "tomorrow"}, alert("10.0.0.1"), now=T0)
