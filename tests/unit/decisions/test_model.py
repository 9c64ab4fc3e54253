"""Which subjects can be decided, the allowlist, the duration, and the decision an alert makes."""

from __future__ import annotations

import ipaddress

from failstream.alerting.decide import decision_for
from failstream.decisions.model import allowlisted, duration_s, normalise_subject
from failstream.settings import Settings
from tests.unit.alerting.factories import T0, alert


def test_ips_and_prefixes_are_subjects_in_one_spelling_and_nothing_else_is() -> None:
    assert normalise_subject("203.0.113.9") == ("203.0.113.9", "ip")
    assert normalise_subject("::ffff:203.0.113.9") == ("203.0.113.9", "ip")
    assert normalise_subject("2001:DB8::1") == ("2001:db8::1", "ip")
    assert normalise_subject("203.0.113.9 POST /api/submit") == ("203.0.113.9", "ip")
    assert normalise_subject("2001:db8::5/64") == ("2001:db8::/64", "prefix")
    assert normalise_subject("203.0.113.9/32") == ("203.0.113.9", "ip")
    for nothing in ("mail.example.com", "all", "", "10.0.0.1/33", "deny all;"):
        assert normalise_subject(nothing) is None


def test_a_subject_overlapping_the_allowlist_is_never_decided() -> None:
    allow = (ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("2001:db8:1::/48"))
    assert allowlisted("10.1.2.3", allow)
    assert allowlisted("10.0.0.0/8", allow)  # would refuse allowlisted addresses too
    assert allowlisted("2001:db8:1::9", allow)
    assert not allowlisted("10.2.0.1", allow)
    assert not allowlisted("2001:db8:2::/64", allow)


def test_duration_is_the_rules_setting_else_its_window() -> None:
    assert duration_s("ip-failures", 600, {"ip-failures": 3600}) == 3600
    assert duration_s("ip-route-failures", 300, {"ip-failures": 3600}) == 300


def test_a_firing_alert_decides_its_ip_until_its_time_plus_the_duration() -> None:
    settings = Settings(decision_durations_s={"ip-failures": 60})
    decision = decision_for(alert("10.0.0.1"), settings, now=T0)
    assert decision is not None
    assert (decision.subject, decision.kind, decision.until, decision.decided_at) == (
        "10.0.0.1",
        "ip",
        T0 + 60_000,
        T0,
    )
    route = alert("10.0.0.2 GET /x", rule="ip-route-failures")
    assert decision_for(route, settings, now=T0).subject == "10.0.0.2"  # type: ignore[union-attr]


def test_what_makes_no_decision() -> None:
    settings = Settings(allowlist="10.9.0.0/16", decision_rules="ip-failures")  # type: ignore[arg-type]
    assert decision_for(alert("10.0.0.1", state="resolved"), settings, now=T0) is None
    assert decision_for(alert("10.9.0.1"), settings, now=T0) is None  # allowlisted
    assert decision_for(alert("example.com", rule="ip-failures"), settings, now=T0) is None
    assert decision_for(alert("10.0.0.1 GET /x", rule="ip-route-failures"), settings, now=T0) is None
    assert decision_for(alert("10.0.0.1"), settings, now=T0 + 600_000) is None  # its time is already up
    assert decision_for(alert("10.0.0.1", state="renotify"), settings, now=T0) is not None
