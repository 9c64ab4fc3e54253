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

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, Security

from failstream.api import documents
from failstream.api.auth import api_key_header, key_id, require_admin
from failstream.api.models import ErrorOut, Silence, SilenceIn, SilencePage
from failstream.api.pagination import fetch_page
from failstream.api.params import (
    CursorQuery,
    LimitParam,
    canonical_subject,
    position_of,
    raise_body_error,
    settings_of,
)
from failstream.api.routes.common import ADMIN_ERRORS, db_of
from failstream.events import now_ms

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
async def create_silence(
    request: Request, body: SilenceIn, key: Annotated[str | None, Security(api_key_header)] = None
) -> Silence:
    """Mute alerts matching ``subject`` and/or ``rule`` until ``until`` (or for ``duration_s``).

    A silence lasts at most ``silence_max_days`` (30 by default): an ``until``
    in the past or beyond it, or a longer ``duration_s``, is a 422 naming the
    field. The silence records when it was made and by which admin key (its
    ``key_id``, never the key).
    """
    if not body.subject and not body.rule:
        raise_body_error(
            "subject", "subject or rule is required (a silence naming neither would mute nothing)"
        )
    subject = None
    if body.subject:
        try:
            subject = canonical_subject(body.subject)
        except ValueError as exc:
            raise_body_error("subject", str(exc))
    if (body.until is None) == (body.duration_s is None):
        raise_body_error("until", "give exactly one of until (ms) or duration_s")
    now = now_ms()
    max_days = settings_of(request).silence_max_days
    max_ms = max_days * 86_400_000
    if body.duration_s is not None and body.duration_s * 1000 > max_ms:
        raise_body_error(
            "duration_s",
            f"duration_s ({body.duration_s}) is longer than the maximum silence of {max_days} days "
            f"({max_ms // 1000} s, silence_max_days)",
        )
    until = body.until if body.until is not None else now + (body.duration_s or 0) * 1000
    if until <= now:
        raise_body_error("until", f"until ({until}) must be in the future (now is {now})")
    if until > now + max_ms:
        raise_body_error(
            "until",
            f"until ({until}) is more than {max_days} days from now (latest {now + max_ms}): "
            "a silence lasts at most silence_max_days",
        )
    doc: dict[str, Any] = {
        "_id": uuid.uuid4().hex,
        "subject": subject,
        "rule": body.rule,
        "reason": body.reason,
        "created_by": body.created_by,
        "created_by_key": key_id(key or ""),  # require_admin has checked the key
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
