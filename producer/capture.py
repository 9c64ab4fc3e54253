"""What the ASGI and WSGI middlewares share: policy, IP, reason, event, send."""

from __future__ import annotations

from failstream.settings import Settings
from producer.classify import classify, is_failure
from producer.client_ip import client_ip
from producer.events import failed_request_json, new_event_id, now_ms
from producer.sink import KafkaSink


class FailureRecorder:
    """Turns one failed request into a FailedRequest event on ``failed-requests``."""

    def __init__(self, settings: Settings, sink: KafkaSink) -> None:
        self.sink = sink
        self.topic = settings.topic_failed_requests
        self.service = settings.service_name
        self.all_4xx = settings.capture_all_4xx
        self.skip_paths = frozenset(settings.capture_skip_paths)
        self.trusted = settings.trusted_proxy_networks

    def is_failure(self, status: int) -> bool:
        return is_failure(status, all_4xx=self.all_4xx)

    def record(
        self,
        *,
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
    ) -> None:
        ip = client_ip(peer, x_forwarded_for, forwarded, self.trusted)
        value = failed_request_json(
            event_id=new_event_id(),
            ts=now_ms(),
            service=self.service,
            ip=ip,
            method=method,
            route=route,
            status=status,
            reason=classify(status, has_auth, host_reason),
            user_agent=user_agent,
            request_id=request_id,
        )
        self.sink.send(self.topic, ip.encode(), value)
