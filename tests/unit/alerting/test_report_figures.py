"""Folding MongoDB documents into report figures: minute buckets and alert groups."""

from __future__ import annotations

from failstream.alerting.reports.figures import ReportFigures, fold_alerts, fold_minutes


def test_minute_buckets_sum_by_reason_status_service_and_email_status() -> None:
    docs = [
        {
            "source": "failures",
            "total": 3,
            "reasons": {"invalid_token": 3},
            "statuses": {"401": 3},
            "services": {"api\uff0ev1": 3},
        },
        {
            "source": "failures",
            "total": 2,
            "reasons": {"invalid_token": 1, "forbidden": 1},
            "statuses": {"401": 1, "403": 1},
            "services": {"api\uff0ev1": 2},
        },
        {"source": "emails", "total": 4, "emails": {"sent": 3, "failed": 1}, "services": {"shop": 4}},
    ]
    f = fold_minutes(docs)
    assert f.failures == 5
    assert f.by_reason == {"invalid_token": 4, "forbidden": 1}
    assert f.by_status == {"401": 4, "403": 1}
    assert f.by_service == {"api.v1": 5}  # the stream app's U+FF0E written back as "."
    assert f.email_events == {"sent": 3, "failed": 1}


def test_alert_groups_count_fired_suppressed_and_resolved() -> None:
    groups = [
        {"_id": {"state": "firing", "status": "sent"}, "n": 4},
        {"_id": {"state": "renotify", "status": "suppressed"}, "n": 2},
        {"_id": {"state": "resolved", "status": "sent"}, "n": 3},
        {"_id": {"state": "resolved", "status": "suppressed"}, "n": 1},
    ]
    assert fold_alerts(groups) == (6, 3, 4)


def test_stored_figures_use_mongodb_safe_label_keys() -> None:
    doc = ReportFigures(by_service={"api.v1": 2, "$x": 1}, top_ips=[("10.0.0.1", 2)]).document()
    assert doc["by_service"] == {"api\uff0ev1": 2, "\uff04x": 1}
    assert doc["top_ips"] == [{"label": "10.0.0.1", "n": 2}]  # FerretDB: no nested arrays
