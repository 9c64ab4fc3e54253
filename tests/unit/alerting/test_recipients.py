from __future__ import annotations

from failstream.alerting.recipients import recipient_domains, recipients_for, wants_resolved
from failstream.settings import Settings


def test_recipients_follow_severity_and_fall_back_to_on_call() -> None:
    settings = Settings(oncall_recipients="oncall@a.com", recipients_critical="pager@a.com, cto@b.com")
    assert recipients_for("critical", settings) == ("pager@a.com", "cto@b.com")
    assert recipients_for("warning", settings) == ("oncall@a.com",)


def test_email_events_go_once_per_recipient_domain() -> None:
    assert recipient_domains(["a@X.com", "b@x.com", "c@y.org"]) == ["x.com", "y.org"]


def test_resolved_notices_are_configured_per_rule() -> None:
    assert wants_resolved("ip-failures", Settings())
    only = Settings(notify_resolved_rules="email-delivery")
    assert wants_resolved("email-delivery", only) and not wants_resolved("ip-failures", only)
    assert not wants_resolved("ip-failures", Settings(notify_resolved_rules=""))
