"""Silences: on-call says "not this subject / rule until then", and nothing is sent.

A silence in ``silences`` names a ``subject``, a ``rule`` or both, and an
``until``; an alert it matches is recorded as suppressed (``suppressed_by:
silence``) instead of emailed. The matching rule is a pure predicate, like
Alertmanager's "mutes?", so it is tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from failstream.alerting.clock import Clock
from failstream.events import Alert


def as_ms(value: object) -> int | None:
    """``until`` as epoch ms; the contract says integer ms, a datetime is accepted too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return None


def mutes(silence: Mapping[str, Any], alert: Alert, now: int) -> bool:
    """Does this silence suppress this alert at ``now``?

    A silence naming neither subject nor rule silences nothing: an empty
    matcher that muted every alert would be a dangerous typo.
    """
    until = as_ms(silence.get("until"))
    if until is None or until <= now:
        return False
    subject, rule = silence.get("subject"), silence.get("rule")
    if not subject and not rule:
        return False
    return (not subject or subject == alert.subject) and (not rule or rule == alert.rule)


class SilenceStage:
    """Finds the active silence (if any) that mutes an alert."""

    def __init__(self, silences: AsyncCollection[dict[str, Any]], clock: Clock) -> None:
        self._silences = silences
        self._clock = clock

    async def silenced_by(self, alert: Alert) -> Mapping[str, Any] | None:
        now = self._clock()
        query = {"$or": [{"subject": alert.subject}, {"rule": alert.rule}]}
        async for silence in self._silences.find(query):
            if mutes(silence, alert, now):
                return silence
        return None
