"""``/failures``: the raw failed requests, newest first, filtered and cursor-paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from failstream.api import documents, lookups
from failstream.api.auth import require_read
from failstream.api.models import FailurePage
from failstream.api.pagination import fetch_page, page_of
from failstream.api.params import CursorQuery, IpQuery, LimitParam, ServiceQuery, ip_match, position_of
from failstream.api.routes.common import READ_ERRORS, db_of, equal_filters
from failstream.events import FailureReason

router = APIRouter(tags=["failures"], dependencies=[Depends(require_read)], responses=READ_ERRORS)


@router.get("/failures", response_model=FailurePage, summary="Failed requests, newest first (ts, then id)")
async def list_failures(
    request: Request,
    limit: LimitParam,
    ip: IpQuery = None,
    reason: Annotated[FailureReason | None, Query(description="failure reason")] = None,
    service: ServiceQuery = None,
    cursor: CursorQuery = None,
) -> FailurePage:
    db = db_of(request)
    if ip and reason is None and service is None and cursor is None:
        # an IP's first page: from its counters' list of newest ids when it has many failures
        # (``lookups.recent_failures``); one more than the page says whether a next one exists
        match = ip_match(ip)
        stats = await lookups.first(db.ip_stats, "_id", match)
        found = await lookups.recent_failures(db.failures, match, stats, limit + 1)
        docs, nxt = page_of(found, kind="failures", time_field="ts", limit=limit)
        return FailurePage(items=[documents.failure(d) for d in docs], next_cursor=nxt)
    # one query per spelling of the address: an equality is pushed down to an index, an $in is not
    queries = [
        equal_filters(ip=spelling, reason=reason, service=service)
        for spelling in (lookups.spellings(ip_match(ip)) if ip else [None])
    ]
    docs, nxt = await fetch_page(
        db.failures,
        queries,
        kind="failures",
        time_field="ts",
        position=position_of("failures", cursor),
        limit=limit,
    )
    return FailurePage(items=[documents.failure(d) for d in docs], next_cursor=nxt)
