"""``/emails``: the email log, newest first, cursor-paged, with today's counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from failstream.api import documents, email_day
from failstream.api.auth import require_read
from failstream.api.models import EmailKind, EmailPage, EmailStatus
from failstream.api.pagination import fetch_page
from failstream.api.params import CursorQuery, LimitParam, position_of
from failstream.api.routes.common import READ_ERRORS, db_of, equal_filters
from failstream.events import now_ms

router = APIRouter(tags=["emails"], dependencies=[Depends(require_read)], responses=READ_ERRORS)


@router.get(
    "/emails",
    response_model=EmailPage,
    summary="Email log, newest first (created_at, then id), and today's created/sent/failed",
)
async def list_emails(
    request: Request,
    limit: LimitParam,
    status: Annotated[EmailStatus | None, Query(description="delivery status")] = None,
    kind: Annotated[EmailKind | None, Query(description="email kind")] = None,
    cursor: CursorQuery = None,
) -> EmailPage:
    query = equal_filters(status=status, kind=kind)
    db = db_of(request)
    docs, nxt = await fetch_page(
        db.emails,
        query,
        kind="emails",
        time_field="created_at",
        position=position_of("emails", cursor),
        limit=limit,
    )
    day = await email_day.today(db, request.app.state.settings.report_timezone, now_ms())
    return EmailPage(items=[documents.email(d) for d in docs], next_cursor=nxt, today=day)
