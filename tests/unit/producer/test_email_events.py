from __future__ import annotations

import pydantic
import pytest

from failstream.producer.email_events import recipient_domain_of, report_email_event, report_email_event_async


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
