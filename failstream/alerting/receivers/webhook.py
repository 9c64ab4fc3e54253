"""Generic webhook: the alert as JSON, signed with the receiver's secret so it can tell us from a forger.

``X-Failstream-Signature: sha256=<hex>`` is HMAC-SHA256 over
``"<X-Failstream-Timestamp>." + raw body``: the timestamp (Unix seconds, new
on every attempt) is signed with the body, so a receiver that refuses old
timestamps is safe from a replay of a captured request. The body is the same
on every attempt and ``delivery_id`` names the delivery, so a copy can be
dropped. The schema is in docs/receivers.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from failstream.alerting.receivers.http import post
from failstream.alerting.receivers.notice import Notice
from failstream.settings import ReceiverConfig

SCHEMA_VERSION = 1
SIGNATURE_HEADER = "X-Failstream-Signature"
TIMESTAMP_HEADER = "X-Failstream-Timestamp"
DELIVERY_HEADER = "X-Failstream-Delivery"


def webhook_body(notice: Notice, receiver: str) -> bytes:
    """Compact JSON with sorted keys: byte-for-byte the same for the same notice."""
    doc: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "delivery_id": notice.delivery_id,
        "receiver": receiver,
        "severity": notice.severity,
        "dashboard_url": notice.dashboard_url,
        "alert": notice.alert.model_dump(mode="json"),
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``f"{timestamp}."`` + body)."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, now_s: int, tolerance_s: int) -> bool:
    """What a receiver checks (and our tests do): the signature, and a timestamp within tolerance."""
    if not timestamp.isdigit() or abs(now_s - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


class WebhookReceiver:
    def __init__(
        self,
        config: ReceiverConfig,
        client: httpx.AsyncClient,
        timeout_s: float,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._client = client
        self._timeout_s = timeout_s
        self._now_s = now_s

    async def send(self, notice: Notice) -> str:
        body = webhook_body(notice, self.config.name)
        timestamp = int(self._now_s())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.config.secret.get_secret_value().encode(), timestamp, body),
            DELIVERY_HEADER: notice.delivery_id,
        }
        return await post(self._client, self.config.url.get_secret_value(), body, headers, self._timeout_s)
