"""Inhibition's pure parts: which route alerts fold, into which IP alert, and the rule names."""

from __future__ import annotations

from typing import Any

from failstream.alerting import rule_names
from failstream.alerting.details import failures_query
from failstream.alerting.inhibition import firing_alert, fold_in_group, inhibiting_ip, note_of
from failstream.stream_app.detection import rules
from tests.unit.alerting.factories import T0, alert


def route_alert(ip: str = "10.0.0.1", state: str = "firing", **fields: Any):  # type: ignore[no-untyped-def]
    return alert(
        f"{ip} POST /api/submit",
        rule="ip-route-failures",
        alert_key=f"ip-route-failures:{ip}:{state}",
        state=state,
        reasons={},
        routes={},
        count=20,
        threshold=20,
        **fields,
    )


def test_rule_names_mirror_the_stream_rules() -> None:
    assert (rule_names.IP_RULE, rule_names.IP_ROUTE_RULE, rule_names.SPIKE_RULE) == (
        rules.IP_RULE,
        rules.IP_ROUTE_RULE,
        rules.SPIKE_RULE,
    )


def test_only_route_alerts_are_inhibited_and_by_their_ip() -> None:
    assert inhibiting_ip(route_alert("2001:db8::5")) == "2001:db8::5"
    assert inhibiting_ip(alert("10.0.0.1")) is None
    assert inhibiting_ip(alert("10.0.0.1", rule="ip-route-failures")) is None  # no route in the subject


def test_the_ips_episode_fires_until_it_is_resolved() -> None:
    firing = {"_id": "ip:1", "episode_start": T0, "state": "firing", "ts": T0}
    renotify = {"_id": "ip:2", "episode_start": T0, "state": "renotify", "ts": T0 + 10}
    resolved = {"_id": "ip:3", "episode_start": T0, "state": "resolved", "ts": T0 + 20}
    assert firing_alert([firing], T0 + 1) == firing
    assert firing_alert([renotify, firing], T0 + 1) == renotify
    assert firing_alert([firing, resolved], T0 + 1) is None
    older_episode = {"_id": "ip:0", "episode_start": T0 - 9_000, "state": "firing", "ts": T0 - 9_000}
    assert firing_alert([older_episode, firing, resolved], T0 + 1) is None  # the latest episode rules
    assert firing_alert([firing], T0 - 1) is None  # an episode that started after the route's failures


def test_a_route_alert_folds_into_its_ips_firing_alert_in_the_same_email() -> None:
    alerts = [route_alert("10.0.0.1"), alert("10.0.0.2"), alert("10.0.0.1"), route_alert("10.0.0.3")]
    assert fold_in_group(alerts) == {0: 2}
    resolved_ip = [route_alert("10.0.0.1"), alert("10.0.0.1", state="resolved")]
    assert fold_in_group(resolved_ip) == {}


def test_a_note_names_the_route_and_its_counts() -> None:
    note = note_of(route_alert().model_dump())
    assert (note.route, note.count, note.threshold, note.window_s) == ("POST /api/submit", 20, 20, 600)


def test_route_and_spike_alerts_read_their_labels_from_the_failures_they_counted() -> None:
    query = failures_query(route_alert("10.0.0.1"))
    assert query == {
        "ip": "10.0.0.1",
        "method": "POST",
        "route": "/api/submit",
        "ts": {"$gte": T0 - 120_000, "$lte": T0},
    }
    assert failures_query(alert("all", rule="global-spike")) == {"ts": {"$gte": T0 - 120_000, "$lte": T0}}
    assert failures_query(alert("10.0.0.1")) is None  # ip-failures carries its own
