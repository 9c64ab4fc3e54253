"""Inhibition (Alertmanager's ``inhibit_rules``): a route alert folds into its IP's firing alert.

An ``ip-route-failures`` alert (subject ``"<ip> <method> <route>"``) for an
IP whose ``ip-failures`` episode is firing says nothing on-call does not
already know, so it is not sent on its own. Where it is decided:

* when the route alert is handled, if the IP's episode has a firing or
  re-notify alert in ``alerts`` and no resolution: the route alert is
  finished ``suppressed`` with ``suppressed_by: inhibited``, ``inhibited_by``
  (the IP alert's key), ``inhibited_subject`` (the IP) and ``folded_into:
  None``; the next email about that IP (its digest if it still waits, else
  its re-notify or resolution) names it ("also: route X crossed its
  threshold") and records ``folded_into`` (``InhibitedBacklog``);
* when a digest leaves with both the IP's alert and its route's alert in it
  (they come on different partitions, so either may be handled first):
  ``fold_in_group`` folds the route alert into the IP's block.

Either way the route alert keeps its own claim in the fence, so it is
finished once, never lost and never sent twice. A route alert whose
episode's firing was inhibited has its resolution inhibited too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from failstream.alerting.rule_names import IP_ROUTE_RULE, IP_RULE, route_parts
from failstream.events import Alert

#: What ``suppressed_by`` says of an inhibited alert.
INHIBITED = "inhibited"
#: At most this many pending route alerts are named in one email.
MAX_ALSO = 100
#: Notifications of the IP's latest episodes looked at to tell whether it is firing.
EPISODE_LOOKBACK = 50

_FIRING = ("firing", "renotify")


@dataclass(frozen=True)
class AlsoNote:
    """A route alert folded into its IP's alert: "also: route X crossed its threshold"."""

    route: str
    count: int
    threshold: int
    window_s: int
    at: int


def inhibiting_ip(alert: Alert) -> str | None:
    """The IP whose firing alert would inhibit this one (only route alerts are inhibited)."""
    if alert.rule != IP_ROUTE_RULE:
        return None
    ip, route = route_parts(alert.subject)
    return ip if ip and route else None


def note_of(alert: Mapping[str, Any]) -> AlsoNote:
    """The note of a route alert, from its document in ``alerts`` (or ``Alert.model_dump()``)."""
    return AlsoNote(
        route=route_parts(str(alert.get("subject", "")))[1],
        count=int(alert.get("count") or 0),
        threshold=int(alert.get("threshold") or 0),
        window_s=int(alert.get("window_s") or 0),
        at=int(alert.get("ts") or 0),
    )


def firing_alert(notifications: Sequence[Mapping[str, Any]], at: int) -> Mapping[str, Any] | None:
    """The firing (or latest re-notify) alert of the IP's latest episode started by ``at``, if unresolved.

    ``notifications`` are the IP's ``ip-failures`` alert documents, any order.
    """
    started = [n for n in notifications if int(n.get("episode_start", 0)) <= at]
    if not started:
        return None
    latest = max(int(n.get("episode_start", 0)) for n in started)
    episode = [n for n in started if int(n.get("episode_start", 0)) == latest]
    if any(n.get("state") == "resolved" for n in episode):
        return None
    firing = [n for n in episode if n.get("state") in _FIRING]
    return max(firing, key=lambda n: int(n.get("ts", 0))) if firing else None


def fold_in_group(alerts: Sequence[Alert]) -> dict[int, int]:
    """Route alerts of one email whose IP's firing alert is in it too: {route index: IP alert index}."""
    firing_ip = {a.subject: i for i, a in enumerate(alerts) if a.rule == IP_RULE and a.state in _FIRING}
    folded: dict[int, int] = {}
    for i, a in enumerate(alerts):
        ip = inhibiting_ip(a)
        if ip is not None and a.state in _FIRING and ip in firing_ip:
            folded[i] = firing_ip[ip]
    return folded


class Inhibition:
    """Looks up, in ``alerts``, whether a route alert is inhibited, and the route alerts still to name."""

    def __init__(self, alerts: AsyncCollection[dict[str, Any]]) -> None:
        self._alerts = alerts

    async def inhibited_by(self, alert: Alert) -> tuple[str, str] | None:
        """(the inhibiting alert's key, the IP) when ``alert`` is not to be sent on its own."""
        ip = inhibiting_ip(alert)
        if ip is None:
            return None
        if alert.state == "resolved":
            return await self._episode_inhibited(alert, ip)
        cursor = (
            self._alerts.find(
                {"rule": IP_RULE, "subject": ip},
                {"episode_start": 1, "state": 1, "ts": 1},
            )
            .sort("episode_start", -1)
            .limit(EPISODE_LOOKBACK)
        )
        notifications = [doc async for doc in cursor]
        firing = firing_alert(notifications, alert.last_seen)
        return None if firing is None else (str(firing["_id"]), ip)

    async def _episode_inhibited(self, alert: Alert, ip: str) -> tuple[str, str] | None:
        """A resolution goes where its episode's latest notification went: inhibited if that was."""
        cursor = self._alerts.find(
            {
                "rule": alert.rule,
                "subject": alert.subject,
                "episode_start": alert.episode_start,
                "state": {"$in": list(_FIRING)},
            },
            {"ts": 1, "suppressed_by": 1, "inhibited_by": 1},
        )
        notifications = [doc async for doc in cursor]
        if not notifications:
            return None
        latest = max(notifications, key=lambda n: int(n.get("ts", 0)))
        if latest.get("suppressed_by") != INHIBITED:
            return None
        return str(latest.get("inhibited_by", "")), ip


class InhibitedBacklog:
    """Inhibited route alerts not yet named in an email, taken by the next email about their IP."""

    def __init__(self, alerts: AsyncCollection[dict[str, Any]]) -> None:
        self._alerts = alerts

    async def take(
        self, ips: Sequence[str], exclude: Sequence[str] = ()
    ) -> tuple[list[str], dict[str, list[AlsoNote]]]:
        if not ips:
            return [], {}
        query = {
            "suppressed_by": INHIBITED,
            "folded_into": None,
            "state": {"$in": list(_FIRING)},
            "inhibited_subject": {"$in": list(ips)},
        }
        keys: list[str] = []
        notes: dict[str, list[AlsoNote]] = {}
        async for doc in self._alerts.find(query).sort("ts", 1).limit(MAX_ALSO):
            if doc["_id"] in exclude:
                continue
            keys.append(str(doc["_id"]))
            notes.setdefault(str(doc["inhibited_subject"]), []).append(note_of(doc))
        return keys, notes

    async def mark_folded(self, keys: Sequence[str], email_id: str) -> None:
        if keys:
            await self._alerts.update_many({"_id": {"$in": list(keys)}}, {"$set": {"folded_into": email_id}})
