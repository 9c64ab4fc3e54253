"""``/silences``: create, list and delete silences (admin key for all three).

GET needs the admin scope too, as the design says "silences need an admin key":
the list tells what on-call has chosen not to hear about (a pentest IP, a noisy
partner), which is operational detail beyond the read scope's stats. The
alerting process reads this collection at every alert, so a change applies to
the next alert without a restart.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from api import documents
from api.auth import require_admin
from api.models import ErrorOut, Silence, SilenceIn, SilencePage
from api.pagination import fetch_page
from api.params import CursorQuery, LimitParam, position_of, raise_body_error
from api.routes.common import ADMIN_ERRORS, db_of
from producer.events import now_ms

router = APIRouter(
    prefix="/silences", tags=["silences"], dependencies=[Depends(require_admin)], responses=ADMIN_ERRORS
)


@router.post(
    "",
    response_model=Silence,
    status_code=201,
    summary="Create a silence",
    responses={400: {"model": ErrorOut, "description": "the body is not JSON"}},
)
async def create_silence(request: Request, body: SilenceIn) -> Silence:
    """Mute alerts matching ``subject`` and/or ``rule`` until ``until`` (or for ``duration_s``)."""
    if not body.subject and not body.rule:
        raise_body_error(
            "subject", "subject or rule is required (a silence naming neither would mute nothing)"
        )
    if (body.until is None) == (body.duration_s is None):
        raise_body_error("until", "give exactly one of until (ms) or duration_s")
    now = now_ms()
    until = body.until if body.until is not None else now + (body.duration_s or 0) * 1000
    if until <= now:
        raise_body_error("until", f"until ({until}) must be in the future (now is {now})")
    doc: dict[str, Any] = {
        "_id": uuid.uuid4().hex,
        "subject": body.subject,
        "rule": body.rule,
        "reason": body.reason,
        "created_by": body.created_by,
        "created_at": now,
        "until": until,
    }
    await db_of(request).silences.insert_one(doc)
    return documents.silence(doc, now)


@router.get("", response_model=SilencePage, summary="Silences, newest first (created_at, then id)")
async def list_silences(
    request: Request,
    limit: LimitParam,
    include_expired: Annotated[bool, Query(description="also list silences whose until has passed")] = False,
    cursor: CursorQuery = None,
) -> SilencePage:
    now = now_ms()
    query: dict[str, Any] = {} if include_expired else {"until": {"$gt": now}}
    docs, nxt = await fetch_page(
        db_of(request).silences,
        query,
        kind="silences",
        time_field="created_at",
        position=position_of("silences", cursor),
        limit=limit,
    )
    return SilencePage(items=[documents.silence(d, now) for d in docs], next_cursor=nxt)


@router.delete(
    "/{silence_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a silence (alerts it muted stay suppressed; new ones are sent)",
    responses={404: {"model": ErrorOut, "description": "no such silence"}},
)
async def delete_silence(
    request: Request, silence_id: Annotated[str, Path(min_length=1, max_length=100)]
) -> Response:
    result = await db_of(request).silences.delete_one({"_id": silence_id})
    if result.deleted_count == 0:
        raise HTTPException(404, f"no silence with id {silence_id!r}")
    return Response(status_code=204)
