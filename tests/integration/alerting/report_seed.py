"""Report test data: failures, minute buckets, alerts and emails written as the other processes would.

``expected_figures`` recomputes a period's figures from the raw documents
with plain Python, independently of ``alerting.reports.figures``, so a test
can say "the report equals what MongoDB holds for that period".
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pymongo.database import Database

MINUTE = 60_000


def seed_period(db: Database[dict[str, Any]], start: int, scale: int) -> None:
    """A period's worth of documents starting at ``start`` (an hour), sized by ``scale``."""
    failures = []
    spec = [
        ("10.0.0.1", 4 * scale, "invalid_token", 401, "shop", "POST", "/api/submit"),
        ("10.0.0.2", 2 * scale + 1, "forbidden", 403, "admin", "GET", "/admin/users/{id}"),
        ("10.0.0.3", scale, "rate_limited", 429, "shop", "GET", "/api/items"),
    ]
    n = 0
    for ip, count, reason, status, service, method, route in spec:
        for i in range(count):
            # first event exactly at the start (counts), the rest spread over the hour
            ts = start + (n * 7 * MINUTE // 3 + i * 1000) % (60 * MINUTE)
            failures.append(
                {
                    "_id": f"f-{start}-{n}-{i}",
                    "ts": ts,
                    "service": service,
                    "ip": ip,
                    "method": method,
                    "route": route,
                    "status": status,
                    "reason": reason,
                    "user_agent": "t",
                    "request_id": "r",
                    "partition": 0,
                    "offset": n * 100 + i,
                }
            )
        n += 1
    db.failures.insert_many(failures)
    buckets: dict[int, dict[str, Any]] = {}
    for f in failures:
        minute = f["ts"] - f["ts"] % MINUTE
        b = buckets.setdefault(
            minute,
            {
                "_id": f"{minute}:failures",
                "minute": minute,
                "source": "failures",
                "total": 0,
                "reasons": Counter(),
                "statuses": Counter(),
                "services": Counter(),
            },
        )
        b["total"] += 1
        b["reasons"][f["reason"]] += 1
        b["statuses"][str(f["status"])] += 1
        b["services"][f["service"]] += 1
    db.minute_counts.insert_many(
        [{**b, **{k: dict(b[k]) for k in ("reasons", "statuses", "services")}} for b in buckets.values()]
    )
    db.minute_counts.insert_one(
        {
            "_id": f"{start + 5 * MINUTE}:emails",
            "minute": start + 5 * MINUTE,
            "source": "emails",
            "total": 3 * scale,
            "emails": {"sent": 2 * scale, "failed": scale},
            "services": {"shop": 3 * scale},
        }
    )
    alerts = [
        ("firing", "sent"),
        ("firing", "suppressed"),
        ("renotify", "sent"),
        ("resolved", "sent"),
        ("resolved", "suppressed"),
    ][: 2 + scale]
    db.alerts.insert_many(
        [
            {
                "_id": f"ip-failures:10.0.0.1:{start}:{i}",
                "ts": start + (i + 1) * MINUTE,
                "state": state,
                "status": status,
                "rule": "ip-failures",
                "subject": "10.0.0.1",
                "created_at": start + (i + 1) * MINUTE,
            }
            for i, (state, status) in enumerate(alerts)
        ]
    )
    emails = [("SENT", 1), ("SENT", 3), ("FAILED", 3), ("FAILED", 1)][: 1 + scale]
    db.emails.insert_many(
        [
            {
                "_id": f"<seed-{start}-{i}@failstream>",
                "kind": "alert",
                "status": status,
                "attempts": attempts,
                "created_at": start + (i + 2) * MINUTE,
                "recipients": ["oncall@example.com"],
                "history": [],
            }
            for i, (status, attempts) in enumerate(emails)
        ]
    )


def expected_figures(db: Database[dict[str, Any]], start: int, end: int, top_n: int) -> dict[str, Any]:
    """The figures of ``[start, end)`` counted from raw documents, as ``reports.figures`` stores them."""
    fails = [f for f in db.failures.find() if start <= f["ts"] < end]
    ips = Counter(f["ip"] for f in fails)
    routes = Counter(f"{f['method']} {f['route']}" for f in fails)
    alerts = [a for a in db.alerts.find() if start <= a["ts"] < end]
    emails = [e for e in db.emails.find() if start <= e["created_at"] < end]
    email_events: Counter[str] = Counter()
    for doc in db.minute_counts.find({"source": "emails"}):
        if start <= doc["minute"] < end:
            email_events.update(doc["emails"])
    return {
        "failures": len(fails),
        "by_reason": dict(Counter(f["reason"] for f in fails)),
        "by_status": dict(Counter(str(f["status"]) for f in fails)),
        "by_service": dict(Counter(f["service"] for f in fails)),
        "top_ips": [
            {"label": ip, "n": n} for ip, n in sorted(ips.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
        ],
        "top_routes": [
            {"label": r, "n": n} for r, n in sorted(routes.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
        ],
        "alerts_fired": sum(a["state"] != "resolved" for a in alerts),
        "alerts_suppressed": sum(a["status"] == "suppressed" for a in alerts),
        "alerts_resolved": sum(a["state"] == "resolved" for a in alerts),
        "emails_sent": sum(e["status"] == "SENT" for e in emails),
        "emails_failed": sum(e["status"] == "FAILED" for e in emails),
        "emails_retried": sum(e["attempts"] > 1 for e in emails),
        "email_events": dict(email_events),
    }
