from __future__ import annotations

from failstream.alerting.email_events import EmailEventPublisher
from failstream.producer.events import EmailEvent
from failstream.settings import Settings


class _Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | str | None, bytes]] = []

    def send(self, topic: str, key: bytes | str | None, value: bytes) -> None:
        self.sent.append((topic, key, value))


def test_each_transition_is_one_event_per_recipient_domain_keyed_by_domain() -> None:
    sink = _Sink()
    EmailEventPublisher(Settings(topic_email_events="email-events"), sink).publish(  # type: ignore[arg-type]
        "<m1@failstream>", ["a@x.com", "b@x.com", "c@y.org"], "RETRYING", 2, "421 busy"
    )
    assert [(t, k) for t, k, _ in sink.sent] == [("email-events", "x.com"), ("email-events", "y.org")]
    event = EmailEvent.model_validate_json(sink.sent[0][2])
    assert (event.status, event.attempt, event.error, event.message_id) == (
        "retrying",
        2,
        "421 busy",
        "<m1@failstream>",
    )
    assert event.service == "failstream-alerting"
