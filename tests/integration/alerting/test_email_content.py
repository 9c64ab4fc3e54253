"""What on-call receives: a real alerting process, real Kafka, FerretDB and SMTP."""

from __future__ import annotations

import pytest

from failstream.settings import Settings
from tests.integration.alerting.harness import Mongo, make_alert, produce_alerts
from tests.integration.services import ProcessGroup, SmtpSink, wait_until

pytestmark = pytest.mark.integration


def test_route_with_script_tag_arrives_escaped_in_the_html_part(
    alerting_settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    route = "/search/<script>alert(1)</script>"
    alert = make_alert("127.0.0.9", routes={route: 5, "/api/v1.0/items": 2})
    processes.start("alerting", "alerting", alerting_settings)
    produce_alerts(alerting_settings, [alert])

    wait_until(lambda: len(smtp_sink.messages()) == 1, 30, "the alert email")
    message = smtp_sink.messages()[0]
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html = html_part.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert route in text_part.get_content()
    assert "127.0.0.9" in message["Subject"] and "5 failures" in message["Subject"]
    assert 'href="http://127.0.0.1:8000/#/ip/127.0.0.9"' in html
    wait_until(lambda: (mongo.alert(alert.alert_key) or {}).get("status") == "sent", 10, "alert marked sent")
    stored = mongo.alert(alert.alert_key)
    assert stored is not None and stored["routes"]["/api/v1\uff0e0/items"] == 2
