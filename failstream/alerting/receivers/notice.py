"""What a receiver is asked to send, and the one method every receiver has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from failstream.events import Alert
from failstream.settings import ReceiverConfig


@dataclass(frozen=True)
class Notice:
    """One alert for one receiver.

    ``delivery_id`` is the send-once key (``<alert key>|<receiver>``): the
    same on every attempt and every re-send, so a receiver can drop a copy.
    ``severity`` is the episode's: a resolved notice carries the severity of
    the firing it ends (the stream marks resolved alerts ``info``), so an
    Alertmanager sees the same labels and resolves the very alert it holds.
    """

    alert: Alert
    delivery_id: str
    severity: str
    dashboard_url: str


class Receiver(Protocol):
    config: ReceiverConfig

    async def send(self, notice: Notice) -> str:
        """Deliver once; raise on failure (``http.classify_http_failure`` says if a retry may help)."""
        ...


def delivery_key(alert_key: str, receiver: str) -> str:
    """The fence key of one alert's delivery to one receiver."""
    return f"{alert_key}|{receiver}"
