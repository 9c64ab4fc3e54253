"""Which receivers an alert goes to, and building each configured receiver.

A receiver takes an alert whose rule is in its ``rules`` and severity in its
``severities`` (empty: all). A resolved notice goes to every receiver of the
rule with ``send_resolved``; the delivery stage then sends it only where the
episode's firing was sent, since the stream marks every resolution ``info``.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from failstream.alerting.receivers.alertmanager import AlertmanagerReceiver
from failstream.alerting.receivers.notice import Receiver
from failstream.alerting.receivers.slack import SlackReceiver
from failstream.alerting.receivers.webhook import WebhookReceiver
from failstream.events import Alert
from failstream.settings import AlertingSettings, ReceiverConfig


def matches(config: ReceiverConfig, alert: Alert) -> bool:
    if config.rules and alert.rule not in config.rules:
        return False
    if alert.state == "resolved":
        return config.send_resolved
    return not config.severities or alert.severity in config.severities


def routed(receivers: Iterable[Receiver], alert: Alert) -> list[Receiver]:
    return [r for r in receivers if matches(r.config, alert)]


def build_receiver(config: ReceiverConfig, client: httpx.AsyncClient, settings: AlertingSettings) -> Receiver:
    timeout_s = settings.receiver_timeout_s
    if config.kind == "webhook":
        return WebhookReceiver(config, client, timeout_s)
    if config.kind == "slack":
        return SlackReceiver(config, client, timeout_s)
    return AlertmanagerReceiver(config, client, timeout_s, settings.repeat_interval_s)
