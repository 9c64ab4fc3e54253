"""``/ips/{ip}``: everything known about one client IP."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from failstream.api import documents
from failstream.api.auth import require_read
from failstream.api.labels import decode_counts
from failstream.api.models import ErrorOut, IpDetail
from failstream.api.params import IpPath, ip_match
from failstream.api.routes.common import READ_ERRORS, db_of

router = APIRouter(prefix="/ips", tags=["ips"], dependencies=[Depends(require_read)], responses=READ_ERRORS)


@router.get(
    "/{ip}",
    response_model=IpDetail,
    summary="Per-IP detail: counts, first/last seen, reasons, recent failures, alerts",
    responses={404: {"model": ErrorOut, "description": "no failure recorded for this IP"}},
)
async def ip_detail(
    request: Request,
    ip: IpPath,
    recent: int = Query(20, ge=1, le=100, description="how many recent failures and alerts to include"),
) -> IpDetail:
    db = db_of(request)
    match = ip_match(ip)
    stats = await db.ip_stats.find_one({"_id": match})
    failures = (
        await db.failures.find({"ip": match}).sort([("ts", -1), ("_id", -1)]).limit(recent).to_list(recent)
    )
    if stats is None and not failures:
        raise HTTPException(404, f"no failure recorded for ip {ip}")
    alerts = (
        await db.alerts.find({"subject": match})
        .sort([("created_at", -1), ("_id", -1)])
        .limit(recent)
        .to_list(recent)
    )
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
