"""Error responses: every bad input is a 4xx that names the parameter; MongoDB down is a 503.

FastAPI's 422 body (``detail``: a list of ``{loc, msg, type}``) is kept, so the
OpenAPI schema stays true, but each ``msg`` starts with the parameter's name:
"limit: Input should be a valid integer" says what to fix without reading ``loc``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

log = logging.getLogger("failstream.api")


def _named(error: dict[str, object]) -> dict[str, object]:
    loc = error.get("loc") or ()
    loc_list = [str(part) for part in loc] if isinstance(loc, list | tuple) else [str(loc)]
    name = next(
        (part for part in reversed(loc_list) if part not in {"query", "path", "body", "header"}), "request"
    )
    msg = str(error.get("msg", "invalid value"))
    if not msg.startswith(f"{name} ") and not msg.startswith(f"Value error, {name} "):
        msg = f"{name}: {msg}"
    return {
        "loc": loc_list,
        "msg": msg.removeprefix("Value error, "),
        "type": str(error.get("type", "value_error")),
    }


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": [_named(dict(e)) for e in exc.errors()]})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # a database outage is the server's temporary state, not a bug: 503 lets clients retry
    log.warning("MongoDB error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(status_code=503, content={"detail": "MongoDB is unavailable, retry later"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PyMongoError, _database_error)
