"""The Failstream API: stats over REST (walking skeleton: the summary)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from pymongo import AsyncMongoClient

from failstream.settings import Settings

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def create_app(settings: Settings) -> FastAPI:
    read_keys = [k.get_secret_value().encode() for k in (*settings.api_read_keys, *settings.api_admin_keys)]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri.get_secret_value())
        app.state.db = client[settings.mongo_db]
        yield
        await client.close()

    def require_read(key: str | None = Security(api_key_header)) -> None:
        if not key:
            raise HTTPException(401, "missing API key: send it in the X-API-Key header")
        if not any(hmac.compare_digest(key.encode(), k) for k in read_keys):
            raise HTTPException(401, "invalid API key")

    app = FastAPI(title="Failstream API", version="1", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/stats/summary", dependencies=[Depends(require_read)])
    async def summary(request: Request) -> dict[str, Any]:
        db = request.app.state.db
        by_ip = {doc["_id"]: doc["total"] async for doc in db.ip_stats.find({}, {"total": 1})}
        reasons: dict[str, int] = {}
        async for doc in db.ip_stats.find({}, {"reasons": 1}):
            for reason, n in (doc.get("reasons") or {}).items():
                reasons[reason] = reasons.get(reason, 0) + n
        top = sorted(by_ip.items(), key=lambda kv: -kv[1])[:10]
        return {
            "total": sum(by_ip.values()),
            "by_reason": reasons,
            "top_ips": [{"ip": ip, "count": n} for ip, n in top],
        }

    return app
