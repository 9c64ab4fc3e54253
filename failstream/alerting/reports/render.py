"""A report email: plain text and HTML of one period's figures, compared with the period before.

Labels (services, routes, IPs, reasons) come from events, so they are
attacker-controlled text: escaped in HTML, and kept out of headers. The
Subject names the schedule, the period and the headline numbers; a report
sent after its due time says LATE in the Subject and the body.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from failstream.alerting.render import RenderedEmail
from failstream.alerting.reports.figures import ReportFigures
from failstream.events import new_event_id

KIND = "report"


@dataclass(frozen=True)
class ReportContext:
    """What the email says about itself besides the figures."""

    schedule: str
    period_text: str
    dashboard_url: str
    late_by_s: int = 0
    manual: bool = False


def change(now: int, before: int) -> str:
    """``+25%`` / ``-40%`` / ``new`` / ``same``: how a figure moved since the previous period."""
    if now == before:
        return "same"
    if before == 0:
        return "new"
    return f"{(now - before) / before:+.0%}"


def _headline(f: ReportFigures) -> list[tuple[str, int]]:
    return [
        ("Failures", f.failures),
        ("Alerts fired", f.alerts_fired),
        ("Alerts suppressed", f.alerts_suppressed),
        ("Alerts resolved", f.alerts_resolved),
        ("Emails sent", f.emails_sent),
        ("Emails failed", f.emails_failed),
        ("Emails retried", f.emails_retried),
    ]


def _sorted(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _note(ctx: ReportContext) -> str:
    if ctx.manual:
        return "Sent on request (failstream reports send-now)."
    if ctx.late_by_s:
        return f"LATE: sent {ctx.late_by_s}s after its due time (no alerting process was running then)."
    return ""


def subject_line(ctx: ReportContext, f: ReportFigures) -> str:
    late = " LATE" if ctx.late_by_s and not ctx.manual else ""
    return (
        f"[Failstream] Report {ctx.schedule}{late}: {f.failures} failures, {f.alerts_fired} alerts, "
        f"{f.emails_failed} failed emails ({ctx.period_text})"
    )


def _tables(f: ReportFigures) -> list[tuple[str, Sequence[tuple[str, int]]]]:
    """The report's tables in order: one list for the text and the HTML part alike."""
    return [
        ("Failures by reason", _sorted(f.by_reason)),
        ("Failures by status", _sorted(f.by_status)),
        ("Failures by service", _sorted(f.by_service)),
        ("Top IPs", f.top_ips),
        ("Top routes", f.top_routes),
        ("Email events of all services", _sorted(f.email_events)),
    ]


def _text_table(title: str, rows: Sequence[tuple[str, int]]) -> str:
    lines = "\n".join(f"  {n:>8}  {label}" for label, n in rows) or "         -"
    return f"{title}:\n{lines}\n"


def render_text(ctx: ReportContext, f: ReportFigures, prev: ReportFigures) -> str:
    note = _note(ctx)
    headline = "\n".join(
        f"  {name + ':':<19}{now:>8}   (previous period {before}, {change(now, before)})"
        for (name, now), (_, before) in zip(_headline(f), _headline(prev), strict=True)
    )
    return (
        f"Failstream report {ctx.schedule}: {ctx.period_text}\n"
        + (f"{note}\n" if note else "")
        + f"\n{headline}\n\n"
        + "".join(_text_table(title, rows) for title, rows in _tables(f))
        + f"\nDashboard: {ctx.dashboard_url}\n"
    )


def _html_table(title: str, rows: Sequence[tuple[str, int]]) -> str:
    e = html.escape
    body = "".join(f"<tr><td>{n}</td><td><code>{e(label)}</code></td></tr>" for label, n in rows)
    return f"<h3>{e(title)}</h3><table>{body or '<tr><td>-</td></tr>'}</table>"


def render_html(ctx: ReportContext, f: ReportFigures, prev: ReportFigures) -> str:
    e = html.escape
    note = _note(ctx)
    headline = "".join(
        f"<tr><td>{e(name)}</td><td><b>{now}</b></td><td>previous period {before}</td>"
        f"<td>{e(change(now, before))}</td></tr>"
        for (name, now), (_, before) in zip(_headline(f), _headline(prev), strict=True)
    )
    return (
        f"<html><body><h2>Failstream report {e(ctx.schedule)}</h2><p>{e(ctx.period_text)}</p>"
        + (f"<p><b>{e(note)}</b></p>" if note else "")
        + f"<table>{headline}</table>"
        + "".join(_html_table(title, rows) for title, rows in _tables(f))
        + f'<p><a href="{e(ctx.dashboard_url, quote=True)}">Open the dashboard</a></p></body></html>'
    )


def render_report(
    ctx: ReportContext,
    figures: ReportFigures,
    previous: ReportFigures,
    recipients: Sequence[str],
    sender: str,
    message_id: str | None = None,
) -> RenderedEmail:
    message_id = message_id or f"<{new_event_id()}@failstream>"
    msg = EmailMessage()
    msg["Subject"] = subject_line(ctx, figures)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg.set_content(render_text(ctx, figures, previous))
    msg.add_alternative(render_html(ctx, figures, previous), subtype="html")
    return RenderedEmail(msg, KIND, message_id)
