"""``/``: the live dashboard, a static page (no build step, no CDN) served by the API.

The page (``api/static/``) is plain HTML, CSS and JavaScript; it reads the REST
API with the key the user types once (kept in ``sessionStorage``, sent as
``X-API-Key``) and follows ``WS /api/v1/live`` with the key as a subprotocol.
The CSP allows only this origin, so the page works offline and an injected
string in the data can't load or run anything.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from failstream.api.page_headers import PageSecurityHeaders, headers_for

STATIC_DIR = Path(__file__).parent / "static"

_HEADERS = {"Cache-Control": "no-cache", **headers_for("/")}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_HEADERS)


def install(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/static/``; every page gets the CSP."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # outermost, so a page answered by any route or mount (/static/index.html, /docs) has it
    app.add_middleware(PageSecurityHeaders)
