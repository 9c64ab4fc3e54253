"""Slack incoming webhook: one Block Kit message per alert.

The hook's URL is its only credential, so it is a SecretStr and never
logged. Text from events (routes, reasons, subjects) is escaped as Slack
asks (``&``, ``<``, ``>``), so it can neither mention a channel nor forge a link.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from failstream.alerting.receivers.http import post
from failstream.alerting.receivers.notice import Notice
from failstream.settings import ReceiverConfig

#: Slack caps a header at 150 characters and a section field at 2,000.
HEADER_MAX = 150
FIELD_MAX = 2000
TOP_N = 5
_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _top(counts: dict[str, int]) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    return "\n".join(f"{escape(name)}: {n}" for name, n in ranked) or "none"


def _field(title: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{title}*\n{value}"[:FIELD_MAX]}


def slack_message(notice: Notice) -> dict[str, Any]:
    """The message: a header, the counts as fields, and a link to the dashboard."""
    a = notice.alert
    resolved = a.state == "resolved"
    emoji = ":white_check_mark:" if resolved else _EMOJI.get(notice.severity, "")
    title = f"{a.rule} {'resolved' if resolved else 'firing'}: {a.subject}"
    counts = f"{a.count} in {a.window_s} s (threshold {a.threshold})"
    if a.ratio is not None:
        counts += f", failure ratio {a.ratio:.0%}"
    return {
        "text": f"Failstream: {title}",  # notifications and clients without blocks show this
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"{emoji} {title}"[:HEADER_MAX]}},
            {
                "type": "section",
                "fields": [
                    _field("Severity", escape(notice.severity)),
                    _field("Failures", counts),
                    _field("Reasons", _top(a.reasons)),
                    _field("Top routes", _top(a.routes)),
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"<{escape(notice.dashboard_url)}|Open the dashboard> · "
                        f"`{escape(notice.delivery_id)}`",
                    }
                ],
            },
        ],
    }


class SlackReceiver:
    def __init__(self, config: ReceiverConfig, client: httpx.AsyncClient, timeout_s: float) -> None:
        self.config = config
        self._client = client
        self._timeout_s = timeout_s

    async def send(self, notice: Notice) -> str:
        body = json.dumps(slack_message(notice), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        return await post(self._client, self.config.url.get_secret_value(), body, headers, self._timeout_s)
