"""``/alerts``: alerts as the alerting process recorded them, newest first, cursor-paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from failstream.api import documents
from failstream.api.auth import require_read
from failstream.api.models import AlertPage, AlertStatus
from failstream.api.pagination import fetch_page
from failstream.api.params import CursorQuery, LimitParam, position_of
from failstream.api.routes.common import READ_ERRORS, db_of, equal_filters

router = APIRouter(tags=["alerts"], dependencies=[Depends(require_read)], responses=READ_ERRORS)


@router.get("/alerts", response_model=AlertPage, summary="Alerts, newest first (created_at, then key)")
async def list_alerts(
    request: Request,
    limit: LimitParam,
    status: Annotated[AlertStatus | None, Query(description="delivery status")] = None,
    rule: Annotated[str | None, Query(min_length=1, max_length=100, description="rule name")] = None,
    subject: Annotated[str | None, Query(min_length=1, max_length=200, description="IP or domain")] = None,
    cursor: CursorQuery = None,
) -> AlertPage:
    query = equal_filters(status=status, rule=rule, subject=subject)
    docs, nxt = await fetch_page(
        db_of(request).alerts,
        query,
        kind="alerts",
        time_field="created_at",
        position=position_of("alerts", cursor),
        limit=limit,
    )
    return AlertPage(items=[documents.alert(d) for d in docs], next_cursor=nxt)
