"""Email content: a plain-text and an HTML part for one alert or a digest.

Every value that came from an event (subject, routes, reasons, services)
is escaped in the HTML part and stripped of control characters in headers:
a route or user agent is attacker-controlled text. The Subject keeps
"<N> failures" and the subject's IP, which people and tests search for.
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import quote

from failstream.alerting.inhibition import AlsoNote
from failstream.alerting.rule_names import IP_ROUTE_RULE, IP_RULE, SPIKE_RULE, route_parts
from failstream.events import Alert, new_event_id

TOP_ROUTES = 5
SUBJECTS_IN_DIGEST_SUBJECT = 3


@dataclass(frozen=True)
class FoldedAlert:
    """An alert that was rate-limited earlier and is now mentioned in this email."""

    rule: str
    subject: str
    count: int
    at: int


@dataclass(frozen=True)
class RenderedEmail:
    message: EmailMessage
    kind: str
    message_id: str


def _header_text(value: str, limit: int = 200) -> str:
    return "".join(c if c.isprintable() else " " for c in value)[:limit]


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def dashboard_link(dashboard_url: str, subject: str, rule: str = "") -> str:
    """The subject's detail view (the dashboard's ``#/ip/<ip>`` route), else the overview.

    A route alert's subject is ``"<ip> <method> <route>"``: it opens its IP;
    a prefix (``2001:db8::/64``) opens the same view, its ``/`` encoded as the
    dashboard encodes it. A recipient domain (the email-delivery rule) and the
    global spike have no detail view, so they open the overview.
    """
    if rule == IP_ROUTE_RULE:
        subject = route_parts(subject)[0]
    if rule == SPIKE_RULE or _is_domain(subject):
        return dashboard_url
    return f"{dashboard_url}#/ip/{quote(subject, safe='')}"


def _is_domain(subject: str) -> bool:
    try:
        ipaddress.ip_address(subject)
    except ValueError:
        return re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}", subject) is not None
    return False


def email_kind(alerts: Sequence[Alert]) -> str:
    if len(alerts) > 1:
        return "digest"
    return "resolved" if alerts[0].state == "resolved" else "alert"


def subject_line(alerts: Sequence[Alert]) -> str:
    if len(alerts) == 1:
        a = alerts[0]
        subject = _header_text(a.subject)
        if a.state == "resolved":
            return f"[Failstream] RESOLVED {a.rule}: {subject} quiet again after {a.count} failures"
        still = " still" if a.state == "renotify" else ""
        return f"[Failstream] {a.rule}: {subject}{still} had {a.count} failures in {a.window_s}s"
    names = [_header_text(a.subject, 64) for a in alerts[:SUBJECTS_IN_DIGEST_SUBJECT]]
    more = len(alerts) - len(names)
    rules = ", ".join(sorted({a.rule for a in alerts}))
    total = sum(a.count for a in alerts)
    tail = f" and {more} more" if more else ""
    return f"[Failstream] {len(alerts)} alerts ({rules}), {total} failures: {', '.join(names)}{tail}"


def _top(counts: Mapping[str, int], n: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _ratio(a: Alert) -> str:
    return "" if a.ratio is None else f", failure ratio {a.ratio:.0%}"


def _also_text(notes: Sequence[AlsoNote]) -> str:
    return "".join(
        f"  also: route {n.route} crossed its threshold ({n.count} failures in {n.window_s}s, "
        f"threshold {n.threshold})\n"
        for n in notes
    )


def _also_html(notes: Sequence[AlsoNote]) -> str:
    if not notes:
        return ""
    e = html.escape
    items = "".join(
        f"<li>also: route <code>{e(n.route)}</code> crossed its threshold ({n.count} failures in "
        f"{n.window_s}s, threshold {n.threshold})</li>"
        for n in notes
    )
    return f"<ul>{items}</ul>"


def _text_block(a: Alert, dashboard_url: str, also: Sequence[AlsoNote] = ()) -> str:
    reasons = ", ".join(f"{r}={n}" for r, n in _top(a.reasons, 20)) or "-"
    routes = "\n".join(f"    {n:>6}  {r}" for r, n in _top(a.routes, TOP_ROUTES)) or "    -"
    return (
        f"{a.subject} ({a.rule}, {a.severity}, {a.state})\n"
        f"  {a.count} failures in the last {a.window_s}s (threshold {a.threshold}){_ratio(a)}\n"
        f"  reasons: {reasons}\n"
        f"  top routes:\n{routes}\n"
        f"{_also_text(also)}"
        f"  first seen {_when(a.first_seen)}, last seen {_when(a.last_seen)}\n"
        f"  episode started {_when(a.episode_start)}\n"
        f"  dashboard: {dashboard_link(dashboard_url, a.subject, a.rule)}\n"
    )


def _html_block(a: Alert, dashboard_url: str, also: Sequence[AlsoNote] = ()) -> str:
    e = html.escape
    reasons = "".join(f"<li>{e(r)}: {n}</li>" for r, n in _top(a.reasons, 20)) or "<li>-</li>"
    routes = "".join(
        f"<tr><td>{n}</td><td><code>{e(r)}</code></td></tr>" for r, n in _top(a.routes, TOP_ROUTES)
    )
    link = e(dashboard_link(dashboard_url, a.subject, a.rule), quote=True)
    return (
        f"<h3>{e(a.subject)} <small>({e(a.rule)}, {e(a.severity)}, {e(a.state)})</small></h3>"
        f"<p><b>{a.count}</b> failures in the last {a.window_s}s (threshold {a.threshold}){_ratio(a)}</p>"
        f"<p>Reasons:</p><ul>{reasons}</ul>"
        f"<p>Top routes:</p><table>{routes}</table>"
        f"{_also_html(also)}"
        f"<p>First seen {e(_when(a.first_seen))}, last seen {e(_when(a.last_seen))}; "
        f"episode started {e(_when(a.episode_start))}</p>"
        f'<p><a href="{link}">Open in the dashboard</a></p>'
    )


def _folded_text(folded: Sequence[FoldedAlert]) -> str:
    if not folded:
        return ""
    lines = "\n".join(f"  {f.subject} ({f.rule}, {f.count} failures, {_when(f.at)})" for f in folded)
    return f"\n{len(folded)} alert(s) held back by the rate limit since the last email:\n{lines}\n"


def _folded_html(folded: Sequence[FoldedAlert]) -> str:
    if not folded:
        return ""
    e = html.escape
    items = "".join(
        f"<li>{e(f.subject)} ({e(f.rule)}, {f.count} failures, {e(_when(f.at))})</li>" for f in folded
    )
    return f"<h3>{len(folded)} alert(s) held back by the rate limit since the last email</h3><ul>{items}</ul>"


def alert_message_id(alert_keys: Iterable[str]) -> str:
    """The same set of alerts always gets the same Message-ID.

    A process that takes alerts over after a lease ran out sends them with
    the Message-ID the first owner may already have used, so a receiver that
    drops repeated Message-IDs shows the email once. A different set of alerts
    never shares an id, so dropping one can never hide another alert.
    """
    digest = hashlib.sha256("\n".join(sorted(set(alert_keys))).encode()).hexdigest()[:32]
    return f"<alert-{digest}@failstream>"


def render_email(
    alerts: Sequence[Alert],
    recipients: Sequence[str],
    *,
    sender: str,
    dashboard_url: str,
    folded: Sequence[FoldedAlert] = (),
    message_id: str | None = None,
    also: Mapping[str, Sequence[AlsoNote]] | None = None,
) -> RenderedEmail:
    """One email for ``alerts`` (one alert, or a digest naming every subject).

    It gets a new Message-ID unless one is given (``alert_message_id``).
    ``also`` holds, per IP, the route alerts folded into that IP's alert
    (``alerting.inhibition``): they are named under its block.
    """
    also = also or {}

    def notes(a: Alert) -> Sequence[AlsoNote]:
        return also.get(a.subject, ()) if a.rule == IP_RULE else ()

    if not alerts:
        raise ValueError("an email needs at least one alert")
    message_id = message_id or f"<{new_event_id()}@failstream>"
    msg = EmailMessage()
    msg["Subject"] = subject_line(alerts)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    intro = f"{len(alerts)} alerts grouped into one email.\n\n" if len(alerts) > 1 else ""
    text = intro + "\n".join(_text_block(a, dashboard_url, notes(a)) for a in alerts) + _folded_text(folded)
    msg.set_content(text)
    body = "".join(_html_block(a, dashboard_url, notes(a)) for a in alerts) + _folded_html(folded)
    heading = f"<p>{len(alerts)} alerts grouped into one email.</p>" if len(alerts) > 1 else ""
    msg.add_alternative(f"<html><body>{heading}{body}</body></html>", subtype="html")
    return RenderedEmail(msg, email_kind(alerts), message_id)
