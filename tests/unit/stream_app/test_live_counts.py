from __future__ import annotations

from failstream.events import EmailEvent, FailedRequest
from failstream.stream_app.live_counts import LiveCountsAccumulator


def test_flush_reports_one_second_and_starts_the_next_from_zero() -> None:
    live = LiveCountsAccumulator()
    live.add_failures(
        [
            FailedRequest(
                event_id="e",
                ts=1_700_000_000_000,
                service="api",
                ip="1.1.1.1",
                method="GET",
                route="/",
                status=401,
                reason=reason,
            )
            for reason in ("invalid_token", "invalid_token", "forbidden")
        ]
    )
    live.add_email(
        EmailEvent(
            event_id="m",
            ts=1_700_000_000_000,
            service="api",
            message_id="x",
            recipient_domain="d.org",
            status="sent",
        )
    )
    live.add_alerts(2)
    counts = live.flush(1000)
    assert (counts.ts, counts.failures, counts.alerts) == (1000, 3, 2)
    assert counts.by_reason == {"invalid_token": 2, "forbidden": 1}
    assert counts.by_status == {"401": 3} and counts.by_service == {"api": 3} and counts.emails == {"sent": 1}
    assert live.flush(2000).failures == 0
