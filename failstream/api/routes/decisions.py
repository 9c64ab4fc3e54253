"""``/decisions``: the bouncer feed, the export proxies include, and lifting a decision early.

``GET /decisions`` is CrowdSec's bouncer stream: the active decisions first
(paged), then what was added and removed after the ``cursor`` passed back as
``since``. ``GET /decisions/export`` renders the active ones for nginx,
HAProxy or ipset, with an ``ETag`` so a proxy's reload job fetches cheaply
and reloads only on change. Both need a read key (a proxy holds one);
``DELETE`` needs an admin key. The alerting process makes decisions; this
router only reads them and logs lifts (``decisions.store``), so a lift
reaches the ``decisions`` topic through the alerting process's relay.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response, Security
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from failstream.api.auth import api_key_header, key_id, require_admin, require_read
from failstream.api.models import ErrorOut
from failstream.api.params import LimitParam, raise_param_error
from failstream.api.routes.common import ADMIN_ERRORS, READ_ERRORS, db_of
from failstream.decisions import export, feed
from failstream.decisions.model import Decision, normalise_subject
from failstream.decisions.store import DecisionStore
from failstream.events import now_ms

router = APIRouter(prefix="/decisions", tags=["decisions"])


class DecisionOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str = Field(examples=["203.0.113.9"], description="an IP, or a network prefix (CIDR)")
    kind: Literal["ip", "prefix"]
    rule: str = Field(examples=["ip-failures"])
    alert_key: str
    until: int = Field(description="refused until then, epoch milliseconds, UTC")
    decided_at: int = Field(description="when the alert that decided it was made, epoch ms")


class RemovedOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    reason: str = Field(examples=["expired"], description="expired, or lifted (DELETE)")
    at: int = Field(description="when it ended, epoch milliseconds, UTC")


class DecisionFeedOut(BaseModel):
    added: list[DecisionOut]
    removed: list[RemovedOut]
    cursor: str = Field(description="pass it back as since for what changes next")
    more: bool = Field(description="true: more is waiting, ask again at once with since=cursor")


def _subject(value: str) -> str:
    """The canonical spelling decisions are stored under, or a 422 naming ``subject``."""
    normal = None if " " in value else normalise_subject(value)
    if normal is None:
        raise ValueError(f"subject must be an IP address or a network prefix (CIDR); got {value[:100]!r}")
    return normal[0]


def _out(decision: Decision) -> DecisionOut:
    return DecisionOut(**decision.model_dump(exclude={"v"}))


@router.get(
    "",
    response_model=DecisionFeedOut,
    summary="The bouncer feed: active decisions, then what was added and removed since a cursor",
    dependencies=[Depends(require_read)],
    responses={**READ_ERRORS, 410: {"model": ErrorOut, "description": "the cursor is past the retention"}},
)
async def decision_feed(
    request: Request,
    limit: LimitParam,
    since: Annotated[
        str | None,
        Query(
            max_length=300,
            description="the cursor of the previous answer; omit it to start with the active decisions",
        ),
    ] = None,
) -> DecisionFeedOut:
    """Without ``since``: the active decisions, ``limit`` at a time (``more`` while pages remain).

    With it: what was added (with its ``until``) and removed (expired or
    lifted) since, each subject's latest change once. A change can be seen
    twice; apply them as a set. Expire an added decision yourself at its
    ``until`` too: the removal comes within ``decision_sweep_s`` of it.
    """
    store = DecisionStore(db_of(request))
    try:
        page = await feed.read_page(store, since, limit, now_ms())
    except feed.CursorExpired as exc:
        raise HTTPException(410, str(exc)) from exc
    except feed.CursorError as exc:
        raise_param_error("since", f"since is invalid: {exc}")
    return DecisionFeedOut(
        added=[_out(d) for d in page.added],
        removed=[RemovedOut(subject=r.subject, reason=r.reason, at=r.at) for r in page.removed],
        cursor=page.cursor,
        more=page.more,
    )


@router.get(
    "/export",
    summary="The active decisions as a file nginx, HAProxy or ipset includes",
    dependencies=[Depends(require_read)],
    response_class=Response,
    responses={
        **READ_ERRORS,
        200: {"content": {"text/plain": {}}, "description": "the file"},
        304: {"description": "not changed since the ETag in If-None-Match"},
    },
)
async def export_decisions(
    request: Request,
    format: Annotated[
        export.Format,
        Query(description="plain (one per line), nginx (deny lines), haproxy (ACL file), ipset"),
    ] = "plain",
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """``nginx``: ``deny 203.0.113.9;`` lines to ``include``; ``haproxy``: a file for ``src -f``;
    ``ipset``: input for ``ipset restore`` (sets ``failstream`` and ``failstream6``).

    The ``ETag`` is a hash of the body: send it back in ``If-None-Match`` and
    an unchanged list is a 304 with no body.
    """
    decisions = await DecisionStore(db_of(request)).active(now_ms())
    body = export.RENDERERS[format](decisions)
    tag = export.etag(body)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if export.matches_etag(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/plain; charset=utf-8", headers=headers)


@router.delete(
    "/{subject:path}",
    status_code=204,
    response_class=Response,
    summary="Lift a decision early (admin)",
    dependencies=[Depends(require_admin)],
    responses={**ADMIN_ERRORS, 404: {"model": ErrorOut, "description": "no active decision for it"}},
)
async def lift_decision(
    request: Request,
    subject: Annotated[
        str,
        AfterValidator(_subject),
        Path(
            max_length=100,
            description="the IP or prefix (a prefix's / may stay as is or be %2F)",
            examples=["203.0.113.9"],
        ),
    ],
    key: Annotated[str | None, Security(api_key_header)] = None,
) -> Response:
    """The subject is served again: removed from the export at once, published as removed.

    An alert made before the lift does not decide it again; a later one does.
    """
    lifted = await DecisionStore(db_of(request)).lift(subject, now_ms(), by=key_id(key or ""))
    if not lifted:
        raise HTTPException(404, f"no active decision for {subject}")
    return Response(status_code=204)
