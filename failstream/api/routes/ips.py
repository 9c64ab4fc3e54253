"""``/ips/{ip}``: everything known about one client IP, or the alerts about one network prefix."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from failstream.api import documents, failure_pages, lookups
from failstream.api.auth import require_read
from failstream.api.labels import decode_counts
from failstream.api.models import ErrorOut, IpDetail
from failstream.api.params import IpPath, ip_match, is_prefix
from failstream.api.routes.common import READ_ERRORS, db_of
from failstream.events import now_ms

router = APIRouter(prefix="/ips", tags=["ips"], dependencies=[Depends(require_read)], responses=READ_ERRORS)


@router.get(
    "/{ip:path}",  # a prefix subject holds a "/"
    response_model=IpDetail,
    summary="Per-IP detail: counts, first/last seen, reasons, recent failures, alerts",
    responses={
        404: {
            "model": ErrorOut,
            "description": "no failure recorded for this IP (no alert about this prefix)",
        }
    },
)
async def ip_detail(
    request: Request,
    ip: IpPath,
    recent: int = Query(20, ge=1, le=100, description="how many recent failures and alerts to include"),
) -> IpDetail:
    db = db_of(request)
    match = ip_match(ip)
    alerts_of = lookups.newest(db.alerts, "subject", match, "created_at", recent)
    if is_prefix(ip):
        return _prefix_detail(ip, await alerts_of)
    # the counters and the alerts at once; the failures after, from the counters' list when
    # the IP has many (the page then costs the same for an attacker as for anyone)
    stats, alerts = await asyncio.gather(lookups.first(db.ip_stats, "_id", match), alerts_of)
    failures, _ = await failure_pages.ip_page(db, match, stats, None, None, None, recent, now=now_ms())
    if stats is None and not failures:
        raise HTTPException(404, f"no failure recorded for ip {ip}")
    stats = stats or {}
    return IpDetail(
        ip=ip,
        total=int(stats.get("total") or len(failures)),
        first_seen=stats.get("first_seen"),
        last_seen=stats.get("last_seen"),
        reasons=decode_counts(stats.get("reasons")),
        statuses=decode_counts(stats.get("statuses")),
        services=decode_counts(stats.get("services")),
        routes=decode_counts(stats.get("routes")),
        recent_failures=[documents.failure(d) for d in failures],
        alerts=[documents.alert(d) for d in alerts],
    )


def _prefix_detail(prefix: str, docs: list[lookups.Doc]) -> IpDetail:
    """A prefix as its newest alert saw it: failures and counts are stored per address,
    and reading every address of a /64 is a range scan FerretDB does not push down."""
    if not docs:
        raise HTTPException(404, f"no alert about prefix {prefix}")
    alerts = [documents.alert(d) for d in docs]
    newest = alerts[0]
    return IpDetail(
        ip=prefix,
        scope="prefix",
        total=newest.count,
        first_seen=newest.first_seen,
        last_seen=newest.last_seen,
        reasons=newest.reasons,
        statuses={},
        services=newest.services,
        routes=newest.routes,
        recent_failures=[],
        alerts=alerts,
    )
