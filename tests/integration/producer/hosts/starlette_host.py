"""A Starlette or FastAPI host for the drop-in test: ``python starlette_host.py starlette|fastapi PORT``."""

import sys

import uvicorn
from fastapi import FastAPI, HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.settings import Settings


def scrub(event: dict) -> dict:
    event["user_agent"] = "scrubbed"
    return event


async def order(request: Request) -> PlainTextResponse:
    if request.path_params["order_id"] == 0:
        raise RuntimeError("a host bug: the server answers 500")
    return PlainTextResponse("no", status_code=401)


async def busy(request: Request) -> PlainTextResponse:
    return PlainTextResponse("busy", status_code=503)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def starlette_app() -> Starlette:
    return Starlette(
        routes=[Route("/orders/{order_id:int}", order), Route("/busy", busy), Route("/healthz", healthz)]
    )


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    def fastapi_order(order_id: int) -> str:
        if order_id == 0:
            raise RuntimeError("a host bug: the server answers 500")
        raise HTTPException(status_code=401)

    @app.get("/busy")
    def fastapi_busy() -> str:
        raise HTTPException(status_code=503)

    @app.get("/healthz")
    def fastapi_healthz() -> str:
        return "ok"

    return app


if __name__ == "__main__":
    app = starlette_app() if sys.argv[1] == "starlette" else fastapi_app()
    app.add_middleware(FailureCaptureMiddleware, settings=Settings(), before_send=scrub)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
