"""Who gets an alert: recipients per severity, on-call by default."""

from __future__ import annotations

from collections.abc import Iterable

from failstream.settings import AlertingSettings


def recipients_for(severity: str, settings: AlertingSettings) -> tuple[str, ...]:
    by_severity = {
        "critical": settings.recipients_critical,
        "warning": settings.recipients_warning,
        "info": settings.recipients_info,
    }
    return by_severity.get(severity) or settings.oncall_recipients


def recipient_domains(recipients: Iterable[str]) -> list[str]:
    """Distinct recipient domains, in first-seen order (email events are keyed by domain)."""
    domains: dict[str, None] = {}
    for address in recipients:
        domains[address.rpartition("@")[2].lower() or "localhost"] = None
    return list(domains)


def wants_resolved(rule: str, settings: AlertingSettings) -> bool:
    rules = settings.notify_resolved_rules
    return "*" in rules or rule in rules
