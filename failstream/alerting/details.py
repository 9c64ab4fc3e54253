"""Reasons and routes for the alerts whose detection keeps no labels, read from stored failures.

The stream's ``ip-route-failures`` rule counts without labels (its subject
names the route) and ``global-spike`` counts a minute's total, so their
alerts arrive with empty ``reasons`` and ``routes``, and emails and
receivers showed "-". Before an alert is sent, this stage fills them from
the ``failures`` the stream persisted over the alert's span (first to last
seen). The persister may lag a little behind detection: what is not stored
yet is not counted, so the figures can fall short of ``count``, never exceed
it. A route alert always names its own route, whatever is stored.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from failstream.alerting.rule_names import IP_ROUTE_RULE, SPIKE_RULE, route_parts
from failstream.events import Alert

#: Most reasons / routes kept per alert (the email shows the top few).
TOP = 20


def failures_query(alert: Alert) -> dict[str, Any] | None:
    """Which stored failures an alert counted, or None for a rule that carries its own labels."""
    span = {"ts": {"$gte": alert.first_seen, "$lte": alert.last_seen}}
    if alert.rule == IP_ROUTE_RULE:
        ip, route = route_parts(alert.subject)
        method, _, path = route.partition(" ")
        return {"ip": ip, "method": method, "route": path, **span}
    if alert.rule == SPIKE_RULE:
        return span
    return None


class AlertDetails:
    def __init__(self, failures: AsyncCollection[dict[str, Any]]) -> None:
        self._failures = failures

    async def complete(self, alert: Alert) -> Alert:
        """``alert`` with reasons and routes filled in where it came without them."""
        query = failures_query(alert)
        if query is None or (alert.reasons and alert.routes):
            return alert
        reasons = {str(k): n for k, n in await self._top(query, "$reason")}
        if alert.rule == IP_ROUTE_RULE:
            routes = {route_parts(alert.subject)[1]: alert.count}
        else:
            by_route = await self._top(query, {"method": "$method", "route": "$route"})
            routes = {f"{k['method']} {k['route']}": n for k, n in by_route}
        filled = {"reasons": alert.reasons or reasons, "routes": alert.routes or routes}
        return alert.model_copy(update=filled)

    async def _top(self, query: dict[str, Any], key: object) -> list[tuple[Any, int]]:
        pipeline: list[dict[str, Any]] = [
            {"$match": query},
            {"$group": {"_id": key, "n": {"$sum": 1}}},
            {"$sort": {"n": -1, "_id": 1}},
            {"$limit": TOP},
        ]
        cursor = await self._failures.aggregate(pipeline)
        return [(doc["_id"], int(doc["n"])) async for doc in cursor if doc.get("_id") is not None]
