"""Stats read from the counters the stream app writes, never by summing ``failures``.

Summary and time series come from ``minute_counts`` (one document per UTC
minute and partition, so a 1-hour window is 60 per partition whatever the
traffic); top IPs are ranked from the lists of top IPs those minute
documents keep, and only the winners are read from ``ip_stats``, by
``_id``. FerretDB 1.24 pushes neither the range nor the sort down
(docs/mongodb.md), so the minutes are a scan of the counters, never of
``failures``; each top IP's latest alert is an equality lookup by subject
(indexed). The results are shared by
concurrent callers through a short stale-while-revalidate cache
(``settings.api_stats_cache_s``), so no request waits for a recomputation
once the first is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from failstream.api import documents
from failstream.api.cache import StaleWhileRevalidate
from failstream.api.labels import add_counts
from failstream.api.models import Alert, StatsSummary, Timeseries, TimeseriesPoint, TopIp
from failstream.api.params import canonical_duration
from failstream.events import now_ms
from failstream.settings import ApiSettings

MINUTE_MS = 60_000
TOP_IPS = 10


def floor_to(ms: int, step_ms: int) -> int:
    return ms - ms % step_ms


class TopIpCandidates:
    """The union of a window's minute documents' ``top_ips`` lists (written by the persister).

    Ranked by the highest total each IP has in them, it begins with the
    window's top IPs by ``ip_stats`` total (docs/mongodb.md, "Top IPs").
    ``complete`` is False when a minute document was born before the lists
    were kept (no ``top_ips_kept``), so IPs may be missing from it.
    """

    FIELDS = ("top_ips", "top_ips_kept")

    def __init__(self) -> None:
        self.best: dict[str, int] = {}
        self.complete = True

    def add(self, doc: dict[str, Any]) -> None:
        if doc.get("top_ips_kept") is not True:
            self.complete = False
            return
        for entry in doc.get("top_ips") or []:
            ip, total = str(entry["ip"]), int(entry["total"])
            self.best[ip] = max(self.best.get(ip, total), total)

    def ranked(self) -> list[str]:
        return [ip for ip, _ in sorted(self.best.items(), key=lambda kv: (-kv[1], kv[0]))]


class ReadModel:
    """The stats endpoints' queries, cached per question."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], settings: ApiSettings) -> None:
        self._db = db
        self._summaries: StaleWhileRevalidate[StatsSummary] = StaleWhileRevalidate(settings.api_stats_cache_s)
        self._series: StaleWhileRevalidate[Timeseries] = StaleWhileRevalidate(settings.api_stats_cache_s)

    async def summary(self, window: str, window_s: int) -> StatsSummary:
        """Keyed by the window's length, so every spelling of one window shares a computation."""
        return await self._summaries.get(
            window_s, lambda: self._compute_summary(canonical_duration(window_s), window_s)
        )

    async def timeseries(self, start: int | None, end: int | None, step_s: int) -> Timeseries:
        key = (start, end, step_s)
        return await self._series.get(key, lambda: self._compute_timeseries(start, end, step_s))

    async def _minutes(
        self, start: int, end: int | None, extra: tuple[str, ...] = ()
    ) -> AsyncIterator[dict[str, Any]]:
        """The window's minute documents one by one: a 90-day window is 129,600 of them,
        summed as they arrive rather than held in memory together. ``end`` None: no upper bound."""
        minute: dict[str, int] = {"$gte": start} if end is None else {"$gte": start, "$lt": end}
        query = {"source": "failures", "minute": minute}
        projection = {"minute": 1, "total": 1, "reasons": 1, "statuses": 1, "services": 1}
        projection.update(dict.fromkeys(extra, 1))
        async for doc in self._db.minute_counts.find(query, projection, batch_size=1000):
            yield doc

    async def _compute_summary(self, window: str, window_s: int) -> StatsSummary:
        end = now_ms()
        start = floor_to(end - window_s * 1000, MINUTE_MS)
        total = 0
        reasons: dict[str, int] = {}
        statuses: dict[str, int] = {}
        services: dict[str, int] = {}
        candidates = TopIpCandidates()
        # minutes after the end too (an IP's last failure stamped ahead of this clock is in the
        # window's top IPs, as last_seen >= start says), but only the window's are summed
        async for doc in self._minutes(start, None, TopIpCandidates.FIELDS):
            candidates.add(doc)
            if int(doc["minute"]) > end:
                continue
            total += int(doc.get("total") or 0)
            add_counts(reasons, doc.get("reasons"))
            add_counts(statuses, doc.get("statuses"))
            add_counts(services, doc.get("services"))
        return StatsSummary(
            window=window,
            start=start,
            end=end,
            total=total,
            by_reason=reasons,
            by_status=statuses,
            by_service=services,
            top_ips=await self._top_ips(start, candidates),
            computed_at=now_ms(),
        )

    async def _top_ips(self, start: int, candidates: TopIpCandidates) -> list[TopIp]:
        # ip_stats holds all-time totals; for an IP whose first failure lies in the
        # window that total *is* its window count (count_scope "window")
        if candidates.complete:
            docs = await self._winners(start, candidates.ranked())
        else:  # minutes written before they kept top IPs: the scan they replace
            cursor = self._db.ip_stats.find(
                {"last_seen": {"$gte": start}}, {"total": 1, "first_seen": 1, "last_seen": 1}
            ).sort([("total", -1), ("_id", 1)])
            docs = await cursor.limit(TOP_IPS).to_list(TOP_IPS)
        alerts = await asyncio.gather(*(self.latest_alert(str(doc["_id"])) for doc in docs))
        return [
            TopIp(
                ip=str(doc["_id"]),
                count=int(doc.get("total") or 0),
                last_seen=doc.get("last_seen"),
                count_scope="window" if int(doc.get("first_seen") or 0) >= start else "all_time",
                alert=alert,
            )
            for doc, alert in zip(docs, alerts, strict=True)
        ]

    async def _winners(self, start: int, ranked: list[str]) -> list[dict[str, Any]]:
        """The first ``TOP_IPS`` of ``ranked`` that ``ip_stats`` still holds as seen since ``start``,
        read by ``_id`` equality, a few more only when some were swept."""
        docs: list[dict[str, Any]] = []
        while ranked and len(docs) < TOP_IPS:
            wanted, ranked = ranked[: TOP_IPS - len(docs)], ranked[TOP_IPS - len(docs) :]
            found = await asyncio.gather(
                *(
                    self._db.ip_stats.find_one({"_id": ip}, {"total": 1, "first_seen": 1, "last_seen": 1})
                    for ip in wanted
                )
            )
            docs += [d for d in found if d is not None and int(d.get("last_seen") or 0) >= start]
        return sorted(docs, key=lambda d: (-int(d.get("total") or 0), str(d["_id"])))

    async def latest_alert(self, subject: str) -> Alert | None:
        """The subject's newest alert: an equality lookup on ``subject`` (indexed), however old it is."""
        docs = (
            await self._db.alerts.find({"subject": subject})
            .sort([("created_at", -1), ("_id", -1)])
            .limit(1)
            .to_list(1)
        )
        return documents.alert(docs[0]) if docs else None

    async def _compute_timeseries(self, start: int | None, end: int | None, step_s: int) -> Timeseries:
        step_ms = step_s * 1000
        to = end if end is not None else now_ms()
        first = floor_to(start if start is not None else to - 3600_000, step_ms)
        buckets: dict[int, TimeseriesPoint] = {
            t: TimeseriesPoint(t=t, total=0, by_reason={}) for t in range(first, to, step_ms)
        }
        async for doc in self._minutes(first, to):
            point = buckets.get(floor_to(int(doc["minute"]), step_ms))
            if point is not None:
                point.total += int(doc.get("total") or 0)
                add_counts(point.by_reason, doc.get("reasons"))
        return Timeseries(start=first, end=to, step_s=step_s, points=list(buckets.values()))
