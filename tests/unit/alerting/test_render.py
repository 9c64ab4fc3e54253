from __future__ import annotations

import re

import pytest

from failstream.alerting.render import FoldedAlert, render_email
from tests.unit.alerting.factories import T0, alert

ONCALL = ["oncall@example.com", "sre@example.com"]
DASH = "https://dash.example.com/"


def _parts(rendered) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    msg = rendered.message
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_single_alert_subject_names_rule_subject_and_failure_count() -> None:
    rendered = render_email([alert("10.0.0.1", count=6)], ONCALL, sender="fs@example.com", dashboard_url=DASH)
    subject = rendered.message["Subject"]
    assert "ip-failures" in subject and "10.0.0.1" in subject
    assert re.search(r"(\d+) failures", subject).group(1) == "6"  # type: ignore[union-attr]
    assert rendered.message["To"] == "oncall@example.com, sre@example.com"
    assert rendered.kind == "alert" and rendered.message["Message-ID"] == rendered.message_id


def test_body_has_counts_reasons_top_routes_times_and_dashboard_link_in_both_parts() -> None:
    a = alert("10.0.0.1", reasons={"invalid_token": 4, "expired_token": 2}, routes={"/a": 5, "/b": 1})
    text, html = _parts(render_email([a], ONCALL, sender="f@x", dashboard_url=DASH))
    for part in (text, html):
        assert "invalid_token" in part and "expired_token" in part
        assert "/a" in part and "/b" in part
        assert "6</b> failures" in part or "6 failures" in part
        assert "first seen 2023-11-14 22:11:20 UTC" in part.replace("First", "first")
        assert "last seen 2023-11-14 22:13:20 UTC" in part
        assert "episode started 2023-11-14 22:12:20 UTC" in part
        assert "https://dash.example.com/#/ip/10.0.0.1" in part


def test_only_top_five_routes_are_listed_busiest_first() -> None:
    routes = {f"/r{i}": i for i in range(1, 9)}
    text, _ = _parts(render_email([alert(routes=routes)], ONCALL, sender="f@x", dashboard_url=DASH))
    assert "/r8" in text and "/r4" in text and "/r3" not in text
    assert text.index("/r8") < text.index("/r4")


def test_every_event_value_is_escaped_in_html() -> None:
    evil = '<img src=x onerror="alert(1)">'
    a = alert("10.0.0.1", routes={f"/x/{evil}": 3}, reasons={"<b>": 1}, rule="r<script>")
    _, html = _parts(render_email([a], ONCALL, sender="f@x", dashboard_url=DASH))
    assert "<img" not in html and "<b>:" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_dashboard_link_quotes_the_subject() -> None:
    _, html = _parts(render_email([alert('1.2.3.4"><x')], ONCALL, sender="f@x", dashboard_url=DASH))
    assert 'href="https://dash.example.com/#/ip/1.2.3.4%22%3E%3Cx"' in html


def test_header_injection_through_the_subject_is_impossible() -> None:
    rendered = render_email([alert("1.2.3.4\r\nBcc: x@evil")], ONCALL, sender="f@x", dashboard_url=DASH)
    assert "Bcc" not in rendered.message.keys()
    assert "\n" not in rendered.message["Subject"]


def test_digest_names_every_subject_and_counts_them_in_the_subject_line() -> None:
    alerts = [alert(f"10.0.0.{i}") for i in range(1, 8)]
    rendered = render_email(alerts, ONCALL, sender="f@x", dashboard_url=DASH)
    text, html = _parts(rendered)
    assert rendered.kind == "digest"
    assert rendered.message["Subject"].startswith("[Failstream] 7 alerts (ip-failures), 42 failures")
    assert "and 4 more" in rendered.message["Subject"]
    for i in range(1, 8):
        assert f"10.0.0.{i} (" in text and f"10.0.0.{i} <small>" in html


def test_resolved_notice_says_resolved() -> None:
    rendered = render_email([alert(state="resolved")], ONCALL, sender="f@x", dashboard_url=DASH)
    assert rendered.kind == "resolved" and "RESOLVED" in rendered.message["Subject"]


def test_rate_limited_alerts_are_folded_into_the_email() -> None:
    folded = [FoldedAlert(rule="ip-failures", subject="<10.0.0.9>", count=9, at=T0)]
    text, html = _parts(render_email([alert()], ONCALL, sender="f@x", dashboard_url=DASH, folded=folded))
    assert "1 alert(s) held back by the rate limit" in text and "<10.0.0.9>" in text
    assert "&lt;10.0.0.9&gt;" in html


def test_an_email_needs_an_alert() -> None:
    with pytest.raises(ValueError):
        render_email([], ONCALL, sender="f@x", dashboard_url=DASH)


def test_ratio_rules_show_the_failure_ratio() -> None:
    text, html = _parts(
        render_email([alert("example.com", ratio=0.625)], ONCALL, sender="f@x", dashboard_url=DASH)
    )
    assert "failure ratio 62%" in text and "failure ratio 62%" in html
    plain, _ = _parts(render_email([alert()], ONCALL, sender="f@x", dashboard_url=DASH))
    assert "ratio" not in plain


def test_dashboard_link_opens_the_subjects_detail_view_or_the_overview() -> None:
    from failstream.alerting.render import dashboard_link

    # the dashboard's detail route is #/ip/<ip> (dashboard.js currentIp)
    assert dashboard_link(DASH, "2001:db8::1") == "https://dash.example.com/#/ip/2001%3Adb8%3A%3A1"
    route = dashboard_link(DASH, "10.0.0.7 POST /api/submit", "ip-route-failures")
    assert route == "https://dash.example.com/#/ip/10.0.0.7"
    prefix = dashboard_link(DASH, "2001:db8:1:2::/64", "prefix-failures")
    assert prefix == "https://dash.example.com/#/ip/2001%3Adb8%3A1%3A2%3A%3A%2F64"  # as encodeURIComponent
    # no detail view for a recipient domain or the global spike: the overview
    assert dashboard_link(DASH, "mail.example.com", "email-delivery") == DASH
    assert dashboard_link(DASH, "all", "global-spike") == DASH


def test_folded_route_alerts_are_named_under_their_ips_block_in_both_parts() -> None:
    from failstream.alerting.inhibition import AlsoNote

    notes = {"10.0.0.1": [AlsoNote(route="POST /api/<b>", count=21, threshold=20, window_s=600, at=T0)]}
    others = alert("10.0.0.2")
    text, html = _parts(
        render_email([alert("10.0.0.1"), others], ONCALL, sender="f@x", dashboard_url=DASH, also=notes)
    )
    first, second = text.split("10.0.0.2 (")
    assert "also: route POST /api/<b> crossed its threshold (21 failures in 600s, threshold 20)" in first
    assert "also:" not in second
    assert "also: route <code>POST /api/&lt;b&gt;</code> crossed its threshold" in html
