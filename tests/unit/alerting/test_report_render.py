"""Report emails: text and HTML parts, escaped labels, comparison, late and manual notes."""

from __future__ import annotations

from email.message import EmailMessage

from failstream.alerting.reports.figures import ReportFigures
from failstream.alerting.reports.render import ReportContext, change, render_report

FIGURES = ReportFigures(
    failures=120,
    by_reason={"invalid_token": 100, "forbidden": 20},
    by_status={"401": 100, "403": 20},
    by_service={"<script>svc": 120},
    top_ips=[("10.0.0.1", 80)],
    top_routes=[("POST /api/<b>x</b>", 70)],
    alerts_fired=3,
    alerts_suppressed=1,
    alerts_resolved=2,
    emails_sent=4,
    emails_failed=1,
    emails_retried=2,
)
PREVIOUS = ReportFigures(failures=100, alerts_fired=3)


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    body = msg.get_body(("html",))
    assert text is not None and body is not None
    return str(text.get_content()), str(body.get_content())


def ctx(**kw: object) -> ReportContext:
    values: dict[str, object] = {
        "schedule": "daily",
        "period_text": "2024-05-01 08:00 to 2024-05-02 08:00 UTC",
        "dashboard_url": "http://dash/?a=1&b=2",
    }
    values.update(kw)
    return ReportContext(**values)  # type: ignore[arg-type]


def test_report_has_text_and_html_with_every_figure_and_the_dashboard_link() -> None:
    r = render_report(ctx(), FIGURES, PREVIOUS, ["oncall@example.com"], "fs@example.com")
    text, body = parts(r.message)
    assert r.kind == "report"
    assert r.message["Message-ID"] == r.message_id
    assert "120 failures" in r.message["Subject"] and "daily" in r.message["Subject"]
    for snippet in (
        "invalid_token",
        "10.0.0.1",
        "Alerts suppressed:",
        "Emails retried:",
        "http://dash/?a=1&b=2",
    ):
        assert snippet in text
    assert 'href="http://dash/?a=1&amp;b=2"' in body


def test_labels_from_events_are_escaped_in_html() -> None:
    _, body = parts(render_report(ctx(), FIGURES, PREVIOUS, ["o@x"], "f@x").message)
    assert "<script>" not in body and "&lt;script&gt;svc" in body
    assert "<b>x</b>" not in body and "POST /api/&lt;b&gt;x&lt;/b&gt;" in body


def test_figures_are_compared_with_the_previous_period() -> None:
    text, _ = parts(render_report(ctx(), FIGURES, PREVIOUS, ["o@x"], "f@x").message)
    assert "(previous period 100, +20%)" in text
    assert "(previous period 3, same)" in text
    assert change(5, 0) == "new" and change(0, 4) == "-100%"


def test_late_report_says_so_in_subject_and_body() -> None:
    r = render_report(ctx(late_by_s=3600), FIGURES, PREVIOUS, ["o@x"], "f@x")
    text, body = parts(r.message)
    assert "LATE" in r.message["Subject"]
    assert "LATE: sent 3600s after its due time" in text and "LATE" in body


def test_on_time_and_manual_reports_are_not_marked_late() -> None:
    assert "LATE" not in render_report(ctx(), FIGURES, PREVIOUS, ["o@x"], "f@x").message["Subject"]
    manual = render_report(ctx(manual=True, late_by_s=9), FIGURES, PREVIOUS, ["o@x"], "f@x")
    assert "LATE" not in manual.message["Subject"]
    assert "send-now" in parts(manual.message)[0]
