"""What the ASGI and WSGI middlewares share: policy, IP, reason, event, send."""

from __future__ import annotations

import time

from failstream.producer import metrics
from failstream.producer.classify import classify
from failstream.producer.client_ip import client_ip
from failstream.producer.events import failed_request_json
from failstream.producer.ids import next_event_id
from failstream.producer.policy import CapturePolicy
from failstream.producer.shared import shared_sink
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings


class FailureRecorder:
    """Turns one failed request into a FailedRequest event on ``failed-requests``.

    Without a ``sink`` it uses the process's shared one; without a ``policy``
    the one the settings describe.
    """

    def __init__(
        self, settings: Settings, sink: KafkaSink | None = None, *, policy: CapturePolicy | None = None
    ) -> None:
        self.sink = sink if sink is not None else shared_sink(settings)
        self.policy = policy or CapturePolicy.from_settings(settings)
        self.service = self.policy.service
        self.topic = settings.topic_failed_requests
        self.trusted = settings.trusted_proxy_networks
        self.forwarded_header = settings.forwarded_header  # what a middleware given only this recorder reads
        self.captured = metrics.captured_counts(self.service)

    def is_failure(self, status: int) -> bool:
        return self.policy.is_failure(status)

    def skips(self, path: str) -> bool:
        return self.policy.skips(path)

    def record(
        self,
        peer: str | None,
        x_forwarded_for: str | None,
        forwarded: str | None,
        method: str,
        route: str,
        status: int,
        has_auth: bool,
        host_reason: str | None,
        user_agent: str,
        request_id: str,
        www_authenticate: str | None = None,
        ts_ms: int | None = None,
    ) -> None:
        """Build the event and hand it to the sink; the ASGI middleware calls it positionally (cheaper).

        ``ts_ms`` is when the request failed, for a caller that records it later
        (the capture queue's thread); by default, now.
        """
        ip = client_ip(peer, x_forwarded_for, forwarded, self.trusted)
        reason = classify(status, has_auth, host_reason, www_authenticate)
        ts = _time_ns() // 1_000_000 if ts_ms is None else ts_ms  # the contract's now_ms(), without its call
        value = failed_request_json(
            event_id=next_event_id(ts),  # one clock read: the id carries the event's own ms
            ts=ts,
            service=self.service,
            ip=ip,
            method=method,
            route=route,
            status=status,
            reason=reason,
            user_agent=user_agent,
            request_id=request_id,
        )
        self.sink.send(self.topic, ip.encode(), value)
        counts, key = self.captured.by_reason_status, (reason, status)
        counts[key] = counts.get(key, 0) + 1


_time_ns = time.time_ns
