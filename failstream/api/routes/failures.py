"""``/failures``: the raw failed requests, newest first, filtered and cursor-paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from failstream.api import documents, failure_pages
from failstream.api.auth import require_read
from failstream.api.models import FailurePage
from failstream.api.params import CursorQuery, IpQuery, LimitParam, ServiceQuery, position_of
from failstream.api.routes.common import READ_ERRORS, db_of
from failstream.events import FailureReason, now_ms

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
    """Failures newest first, read second by second (``api.failure_walk``), so a page costs the same
    however many are stored. Follow ``next_cursor`` until it is null: a page that took half a second
    ends early, with fewer than ``limit`` items, and the next one resumes where it stopped."""
    docs, nxt = await failure_pages.page(
        db_of(request),
        ip=ip,
        reason=reason,
        service=service,
        position=position_of("failures", cursor),
        limit=limit,
        now=now_ms(),
    )
    return FailurePage(items=[documents.failure(d) for d in docs], next_cursor=nxt)
