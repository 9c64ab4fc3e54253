"""What the ASGI and WSGI middlewares share: policy, IP, reason, event, sampling, before_send, send."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from failstream.events import failed_request_fields
from failstream.producer import metrics
from failstream.producer.classify import classify
from failstream.producer.client_ip import client_ip
from failstream.producer.ids import next_event_id
from failstream.producer.policy import CapturePolicy
from failstream.producer.shared import shared_sink
from failstream.producer.sink import KafkaSink
from failstream.producer.trace_context import trace_id_of
from failstream.sampling import parse_sample_rates
from failstream.settings import CaptureSettings

log = logging.getLogger("failstream.producer")

#: the host's hook: gets the event as a dict (the FailedRequest fields) and returns it, changed
#: or not, or None to drop it
BeforeSend = Callable[[dict[str, Any]], dict[str, Any] | None]


def hook_record(
    before_send: BeforeSend, fields: dict[str, Any], key_field: str
) -> tuple[bytes, bytes] | None:
    """(key, value) of the event ``before_send`` returned, keyed by its ``key_field``; None if it dropped it.

    The hook's contract for every kind of event. Raises what the hook raised,
    or a TypeError when it returned neither the event dict nor None; the
    caller drops the event then, as it may hold what the hook was to remove.
    """
    event = before_send(fields)
    if event is None:
        return None
    if not isinstance(event, dict):
        raise TypeError(f"before_send returned {type(event).__name__}, not the event dict or None")
    return str(event[key_field]).encode(), orjson.dumps(event)


class FailureRecorder:
    """Turns one failed request into a FailedRequest event on ``failed-requests``.

    Without a ``sink`` it uses the process's shared one; without a ``policy``
    the one the settings describe. A failure whose status has a sample rate
    below 1 (``capture_sample_rates``) is sent with that probability; the
    others are counted, not sent. ``before_send`` sees every event that is
    to be sent, on the thread that builds it (the capture thread, unless the
    middleware was given this recorder).
    """

    def __init__(
        self,
        settings: CaptureSettings,
        sink: KafkaSink | None = None,
        *,
        policy: CapturePolicy | None = None,
        before_send: BeforeSend | None = None,
    ) -> None:
        self.sink = sink if sink is not None else shared_sink(settings)
        self.policy = policy or CapturePolicy.from_settings(settings)
        self.service = self.policy.service
        self.topic = settings.topic_failed_requests
        self.trusted = settings.trusted_proxy_networks
        self.forwarded_header = settings.forwarded_header  # what a middleware given only this recorder reads
        self.sample_rates = parse_sample_rates(settings.capture_sample_rates)
        self.before_send = before_send
        self._before_send_failed = False  # its first exception is logged, the later ones only counted
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
        traceparent: str | None = None,
    ) -> None:
        """Build the event and hand it to the sink; the ASGI middleware calls it positionally (cheaper).

        ``ts_ms`` is when the request failed, for a caller that records it later
        (the capture queue's thread); by default, now.
        """
        rates = self.sample_rates
        if rates:
            rate = rates.get(status)
            if rate is not None and (rate <= 0.0 or _random() >= rate):
                self._discard("sampled_out", status)
                return
        ip = client_ip(peer, x_forwarded_for, forwarded, self.trusted)
        reason = classify(status, has_auth, host_reason, www_authenticate)
        ts = _time_ns() // 1_000_000 if ts_ms is None else ts_ms  # the contract's now_ms(), without its call
        fields = failed_request_fields(
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
            trace_id=trace_id_of(traceparent) if traceparent else None,
        )
        if self.before_send is None:
            key, value = ip.encode(), orjson.dumps(fields)
        else:
            scrubbed = self._scrubbed(fields, status)
            if scrubbed is None:
                return
            key, value = scrubbed
        self.sink.send(self.topic, key, value)
        counts, count_key = self.captured.by_reason_status, (reason, status)
        counts[count_key] = counts.get(count_key, 0) + 1

    def _scrubbed(self, fields: dict[str, Any], status: int) -> tuple[bytes, bytes] | None:
        """(key, value) of the event the hook returned, or None when it dropped it or raised.

        A hook that raises drops the event: it is there to take something out,
        and an event it could not scrub may still carry what it was meant to
        remove. The key is the returned event's ``ip``, so a hook that replaces
        addresses (by a stable pseudonym) keeps each one on its partition.
        """
        assert self.before_send is not None
        try:
            record = hook_record(self.before_send, fields, "ip")
            if record is None:
                self._discard("before_send", status)
            return record
        except Exception:
            self._discard("before_send_error", status)
            if not self._before_send_failed:
                self._before_send_failed = True
                log.exception(
                    "before_send raised: the event is dropped; later errors of the hook are only counted "
                    '(failstream_producer_discarded_events{cause="before_send_error"})'
                )
            return None

    def _discard(self, cause: str, status: int) -> None:
        counts, key = self.captured.discarded, (cause, status)
        counts[key] = counts.get(key, 0) + 1


_time_ns = time.time_ns
_random = random.random
