"""A team's own Prometheus Alertmanager: ``POST /api/v2/alerts``, so it routes our alerts its own way.

Alertmanager knows an alert by its labels, so a firing and its resolution
carry the same ones: ``alertname`` and ``rule`` (the rule), ``subject``,
``severity`` (the episode's), ``source="failstream"``. Prometheus re-sends a
firing alert every evaluation; Failstream sends once, so a firing alert's
``endsAt`` is set ahead by ``repeat_interval_s + window_s``: before then the
stream either re-notifies (a new post moves it on) or resolves the episode
(``endsAt`` = the resolution time). If neither comes, Alertmanager resolves
it by itself then instead of holding it forever.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from failstream.alerting.receivers.http import post
from failstream.alerting.receivers.notice import Notice
from failstream.settings import ReceiverConfig

ALERTS_PATH = "/api/v2/alerts"


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alerts_url(base: str) -> str:
    """The configured URL is Alertmanager's base (``https://am.example.com``) or the endpoint itself."""
    base = base.rstrip("/")
    return base if base.endswith(ALERTS_PATH) else base + ALERTS_PATH


def postable_alerts(notice: Notice, repeat_interval_s: int) -> list[dict[str, Any]]:
    a = notice.alert
    resolved = a.state == "resolved"
    ends_at = a.ts if resolved else a.ts + (repeat_interval_s + a.window_s) * 1000
    return [
        {
            "labels": {
                "alertname": a.rule,
                "rule": a.rule,
                "subject": a.subject,
                "severity": notice.severity,
                "source": "failstream",
            },
            "annotations": {
                "summary": f"{a.rule} {'resolved' if resolved else 'firing'} for {a.subject}",
                "description": f"{a.count} failures in {a.window_s} s (threshold {a.threshold})",
                "alert_key": a.alert_key,
                "delivery_id": notice.delivery_id,
            },
            "startsAt": rfc3339(a.episode_start),
            "endsAt": rfc3339(ends_at),
            "generatorURL": notice.dashboard_url,
        }
    ]


class AlertmanagerReceiver:
    def __init__(
        self, config: ReceiverConfig, client: httpx.AsyncClient, timeout_s: float, repeat_interval_s: int
    ) -> None:
        self.config = config
        self._client = client
        self._timeout_s = timeout_s
        self._repeat_interval_s = repeat_interval_s

    async def send(self, notice: Notice) -> str:
        body = json.dumps(postable_alerts(notice, self._repeat_interval_s), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        token = self.config.secret.get_secret_value()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = alerts_url(self.config.url.get_secret_value())
        return await post(self._client, url, body, headers, self._timeout_s)
