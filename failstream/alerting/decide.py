"""A firing alert becomes a decision: its IP (or prefix) is refused until the rule's time is up.

Started in the pipeline once the alert is claimed and not silenced, and
written beside the rest (inhibition, rate limit, receivers, digest): a route
alert folded into its IP's alert, or an alert whose email the rate limit
holds back, is still a firing alert that proxies should refuse. The alert is
finished (its offset committed) only after its decision is written.

Not decided: a rule not in ``decision_rules``, a subject that is no IP or
prefix (a domain, the global spike), a subject on the allowlist (or a prefix
overlapping it), a subject silenced for the rule (a silence of the IP also
covers its route alerts), and a decision whose time is already up (an old
alert replayed after an outage).

The decision lasts ``decision_durations_s[rule]`` (default: the rule's
window) from the alert's own time, so a re-delivered alert decides the very
same decision and changes nothing (``DecisionStore.record``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from failstream.alerting.clock import Clock
from failstream.alerting.silence import SilenceStage
from failstream.decisions.model import DECIDING_STATES, Decision, allowlisted, duration_s, normalise_subject
from failstream.decisions.store import DecisionStore
from failstream.events import Alert
from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")


def decision_for(alert: Alert, settings: AlertingSettings, now: int) -> Decision | None:
    """The decision an alert makes, before silences are looked up; None if it makes none."""
    if alert.state not in DECIDING_STATES or alert.rule not in settings.decision_rules:
        return None
    normal = normalise_subject(alert.subject)
    if normal is None:
        return None
    subject, kind = normal
    if allowlisted(subject, settings.allowlist_networks):
        return None
    until = alert.ts + duration_s(alert.rule, alert.window_s, settings.decision_durations_s) * 1000
    if until <= now:
        return None
    return Decision(
        subject=subject,
        kind=kind,
        rule=alert.rule,
        alert_key=alert.alert_key,
        until=until,
        decided_at=alert.ts,
    )


class DecisionStage:
    def __init__(
        self,
        settings: AlertingSettings,
        store: DecisionStore,
        silences: SilenceStage,
        clock: Clock,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._silences = silences
        self._clock = clock
        self._on_change = on_change  # the relay publishes at once instead of at its next look

    async def decide(self, alert: Alert) -> Decision | None:
        """Record the alert's decision; returns it when it changed what is decided."""
        decision = decision_for(alert, self._settings, self._clock())
        if decision is None:
            return None
        if decision.subject != alert.subject:
            as_subject = alert.model_copy(update={"subject": decision.subject})
            if await self._silences.silenced_by(as_subject) is not None:
                return None
        if not await self._store.record(decision, self._clock()):
            return None
        log.info(
            "decision: %s refused until %d (%s)",
            decision.subject,
            decision.until,
            alert.alert_key,
            extra={"alert_key": alert.alert_key},
        )
        self._on_change()
        return decision
