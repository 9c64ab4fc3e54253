from __future__ import annotations

import logging
import threading
from typing import Any

import pydantic
import pytest
from prometheus_client import REGISTRY

from failstream.producer import email_events
from failstream.producer.capture_queue import flush_capture
from failstream.producer.email_events import recipient_domain_of, report_email_event, report_email_event_async
from failstream.settings import Settings
from tests.unit.producer.conftest import RecordingSink


def test_recipient_domain_is_lower_cased_and_display_names_are_stripped() -> None:
    assert recipient_domain_of("Ann <ann@Example.COM>") == "example.com"
    assert recipient_domain_of("bob@mail.example.org") == "mail.example.org"


def test_an_address_without_a_domain_is_rejected() -> None:
    with pytest.raises(ValueError, match="no domain"):
        recipient_domain_of("nobody")


def test_an_email_event_is_keyed_by_recipient_domain(unit_settings, recording_sink) -> None:
    event = report_email_event(
        unit_settings,
        service="shop",
        message_id="<m1@shop>",
        recipient="x@Example.com",
        status="failed",
        attempt=2,
        error="550 no such user",
        sink=recording_sink,
    )
    [(topic, key, _)] = recording_sink.sent
    assert topic == unit_settings.topic_email_events and key == b"example.com"
    [sent] = recording_sink.events()
    assert sent["event_id"] == event.event_id
    assert (sent["status"], sent["attempt"], sent["error"]) == ("failed", 2, "550 no such user")


def test_an_unknown_status_is_refused_before_it_reaches_kafka(unit_settings, recording_sink) -> None:
    with pytest.raises(pydantic.ValidationError):
        report_email_event(
            unit_settings,
            service="shop",
            message_id="m",
            recipient_domain="a.b",
            status="lost",
            sink=recording_sink,
        )
    assert recording_sink.sent == []


async def test_the_async_variant_sends_the_same_event(unit_settings, recording_sink) -> None:
    await report_email_event_async(
        unit_settings,
        service="shop",
        message_id="m2",
        recipient_domain="Example.net",
        status="sent",
        sink=recording_sink,
    )
    assert recording_sink.sent[0][1] == b"example.net"


def _discarded(cause: str, status: str, service: str) -> float:
    labels = {"cause": cause, "status": status, "service": service}
    return REGISTRY.get_sample_value("failstream_producer_discarded_events_total", labels) or 0.0


def _report(settings: Settings, service: str, status: str = "failed", **kwargs: Any) -> None:
    report_email_event(
        settings, service=service, message_id="<m@shop>", recipient="ann@Example.com", status=status, **kwargs
    )


def _pseudonym(event: dict[str, Any]) -> dict[str, Any]:
    event["recipient_domain"] = "domain-" + str(len(event["recipient_domain"]))
    event["error"] = ""
    return event


def test_before_send_scrubs_an_email_event_and_the_key_follows_its_recipient_domain(
    unit_settings: Settings, recording_sink: RecordingSink
) -> None:
    _report(
        unit_settings,
        "shop",
        error="550 ann@example.com unknown",
        sink=recording_sink,
        before_send=_pseudonym,
    )
    [(_, key, _)] = recording_sink.sent
    [event] = recording_sink.events()
    assert (key, event["recipient_domain"], event["error"], event["status"]) == (
        b"domain-11",
        "domain-11",
        "",
        "failed",
    )


def test_before_send_returning_none_drops_an_email_event_and_it_is_counted(
    unit_settings: Settings, recording_sink: RecordingSink
) -> None:
    def only_failures(event: dict[str, Any]) -> dict[str, Any] | None:
        return event if event["status"] == "failed" else None

    before = _discarded("before_send", "sent", "mailer-drop")
    _report(unit_settings, "mailer-drop", "sent", sink=recording_sink, before_send=only_failures)
    _report(unit_settings, "mailer-drop", "failed", sink=recording_sink, before_send=only_failures)
    assert [e["status"] for e in recording_sink.events()] == ["failed"]
    assert _discarded("before_send", "sent", "mailer-drop") - before == 1


@pytest.mark.parametrize("hook", ["raises", "returns a list", "removes the domain"])
def test_a_failing_before_send_drops_the_email_event_counts_every_error_and_logs_only_the_first(
    unit_settings: Settings, recording_sink: RecordingSink, caplog: pytest.LogCaptureFixture, hook: str
) -> None:
    service = f"mailer-{hook[:6]}"

    def broken(event: dict[str, Any]) -> Any:
        if hook == "raises":
            raise KeyError("no such field")
        if hook == "returns a list":
            return [event]
        del event["recipient_domain"]
        return event

    broken.__qualname__ = f"broken-{hook}"  # a hook of its own for the log-once memory
    before = _discarded("before_send_error", "failed", service)
    with caplog.at_level(logging.ERROR, logger="failstream.producer"):
        for _ in range(3):
            _report(unit_settings, service, sink=recording_sink, before_send=broken)
    assert recording_sink.sent == []
    assert _discarded("before_send_error", "failed", service) - before == 3
    assert len([r for r in caplog.records if "before_send" in r.getMessage()]) == 1


def test_before_send_of_a_queued_email_event_runs_on_the_capture_thread(
    unit_settings: Settings, recording_sink: RecordingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(email_events, "shared_sink", lambda settings: recording_sink)
    threads: list[str] = []

    def hook(event: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return _pseudonym(event)

    _report(unit_settings, "shop", before_send=hook)
    assert flush_capture()
    assert threads == ["failstream-capture"]
    assert recording_sink.sent[0][1] == b"domain-11"


def test_a_before_send_that_cannot_be_called_is_refused_at_the_call(
    unit_settings: Settings, recording_sink: RecordingSink
) -> None:
    with pytest.raises(TypeError, match="callable"):
        _report(unit_settings, "shop", sink=recording_sink, before_send="scrub")
    assert recording_sink.sent == []
