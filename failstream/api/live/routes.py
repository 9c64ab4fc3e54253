"""``WS /api/v1/live`` and ``GET /api/v1/live/stream`` (SSE): every second's counts, pushed.

Both carry the same JSON message per second (see ``LiveSecond.to_json``);
its ``ts`` is the resume point: ``?since=<ts>`` on either, or the SSE
``Last-Event-ID`` header that browsers send by themselves on reconnect.
Keys: see ``api.live.access``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response

from failstream.api.auth import scope_of
from failstream.api.live.access import SUBPROTOCOL, BadResumePoint, offered_key, resume_point
from failstream.api.live.hub import LiveHub
from failstream.api.live.sse import EventStream
from failstream.api.live.websocket import pump
from failstream.api.models import ErrorOut
from failstream.settings import ApiSettings

router = APIRouter(prefix="/api/v1", tags=["live"])

_KEY_HELP = "read key (for clients that cannot set X-API-Key; it shows in access logs)"
_SINCE_HELP = "ts (ms) of the last second received: first replays what came after it"


@router.websocket("/live")
async def live_websocket(websocket: WebSocket) -> None:
    """Counts every second over a WebSocket; ``?since=<ts>`` resumes."""
    settings: ApiSettings = websocket.app.state.settings
    offered = websocket.scope.get("subprotocols") or []
    key = offered_key(websocket.headers, websocket.query_params, offered)
    if scope_of(settings, key) is None:
        detail = "missing or invalid API key: X-API-Key header, apikey.<base64url> subprotocol or ?api_key="
        await websocket.send_denial_response(JSONResponse({"detail": detail}, status_code=401))
        return
    try:
        since = resume_point(websocket.query_params.get("since"), "since")
    except BadResumePoint as exc:
        await websocket.send_denial_response(JSONResponse({"detail": str(exc)}, status_code=422))
        return
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    hub: LiveHub = websocket.app.state.live_hub
    await pump(websocket, hub.subscribe(since), settings.api_live_send_timeout_s)


@router.get(
    "/live/stream",
    summary="Counts every second as server-sent events (resumable)",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "one event per second, id = ts"},
        401: {"model": ErrorOut, "description": "no or unknown API key"},
        422: {"model": ErrorOut, "description": "a resume point that is not a ts"},
    },
)
async def live_stream(
    request: Request,
    since: Annotated[str | None, Query(description=_SINCE_HELP)] = None,
    api_key: Annotated[str | None, Query(description=_KEY_HELP)] = None,
    x_api_key: Annotated[str | None, Header(description="read key")] = None,
    last_event_id: Annotated[str | None, Header(description="set by EventSource on reconnect")] = None,
) -> Response:
    settings: ApiSettings = request.app.state.settings
    if scope_of(settings, x_api_key or api_key) is None:
        raise HTTPException(401, "missing or invalid API key: X-API-Key header or ?api_key=")
    try:
        # the header wins: it is what a reconnecting EventSource knows last
        point = resume_point(last_event_id, "Last-Event-ID")
        since_ts = point if point is not None else resume_point(since, "since")
    except BadResumePoint as exc:
        raise HTTPException(422, str(exc)) from exc
    hub: LiveHub = request.app.state.live_hub
    return EventStream(hub.subscribe(since_ts), settings.api_live_send_timeout_s)
