"""A report's numbers for one period ``[start, end)``, read from what MongoDB holds.

Totals by reason, status and service come from ``minute_counts`` (kept
forever, exact under replay); top IPs and routes from raw ``failures``
(kept ``failures_retention_days``, longer than any report period); alerts
from ``alerts`` by the alert's event time ``ts``; email delivery from the
email log ``emails`` by ``created_at``. Only ``find`` and ``$match``,
``$group``/``$sum``, ``$sort``, ``$limit`` are used (FerretDB 1.24).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from failstream.alerting.reports.schedule import ReportPeriod
from failstream.alerting.store import Database


@dataclass(frozen=True)
class ReportFigures:
    """Everything one report says about its period; stored with the report as sent."""

    failures: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_service: dict[str, int] = field(default_factory=dict)
    top_ips: list[tuple[str, int]] = field(default_factory=list)
    top_routes: list[tuple[str, int]] = field(default_factory=list)
    alerts_fired: int = 0
    alerts_suppressed: int = 0
    alerts_resolved: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    emails_retried: int = 0
    #: email events of every service (``email-events``) by status: queued, sent, failed, ...
    email_events: dict[str, int] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """As stored in ``reports.figures`` (label keys made MongoDB-safe, top lists of {label, n})."""
        doc = asdict(self)
        for name in ("by_reason", "by_status", "by_service", "email_events"):
            doc[name] = {_field_name(k): v for k, v in doc[name].items()}
        # FerretDB 1.24 stores no nested arrays: each pair becomes a small document
        doc["top_ips"] = [{"label": label, "n": n} for label, n in self.top_ips]
        doc["top_routes"] = [{"label": label, "n": n} for label, n in self.top_routes]
        return doc


def _field_name(label: str) -> str:
    label = label.replace(".", "\uff0e")
    return "\uff04" + label[1:] if label.startswith("$") else label


def label_of(field_name: str) -> str:
    """A count-map key as written by the stream app, back to the label people know."""
    label = field_name.replace("\uff0e", ".")
    return "$" + label[1:] if label.startswith("\uff04") else label


def add_counts(into: dict[str, int], counts: Mapping[str, Any] | None) -> None:
    for name, n in (counts or {}).items():
        label = label_of(str(name))
        into[label] = into.get(label, 0) + int(n)


def fold_minutes(docs: Iterable[Mapping[str, Any]]) -> ReportFigures:
    """Sum ``minute_counts`` documents of both sources into the report's total maps."""
    failures = 0
    by_reason: dict[str, int] = {}
    by_status: dict[str, int] = {}
    by_service: dict[str, int] = {}
    email_events: dict[str, int] = {}
    for doc in docs:
        if doc.get("source") == "emails":
            add_counts(email_events, doc.get("emails"))
            continue
        failures += int(doc.get("total", 0))
        add_counts(by_reason, doc.get("reasons"))
        add_counts(by_status, doc.get("statuses"))
        add_counts(by_service, doc.get("services"))
    return ReportFigures(failures, by_reason, by_status, by_service, email_events=email_events)


def fold_alerts(groups: Iterable[Mapping[str, Any]]) -> tuple[int, int, int]:
    """(fired, suppressed, resolved) from ``{_id: {state, status}, n}`` groups.

    Fired counts firing and re-notified alerts, whatever became of them;
    suppressed counts any state muted by a silence, rate limit or resolved_off.
    """
    fired = suppressed = resolved = 0
    for group in groups:
        key, n = group["_id"], int(group["n"])
        if key.get("state") == "resolved":
            resolved += n
        else:
            fired += n
        if key.get("status") == "suppressed":
            suppressed += n
    return fired, suppressed, resolved


async def _top(db: Database, period: ReportPeriod, group_id: Any, sort: dict[str, int], n: int) -> list[Any]:
    pipeline: list[dict[str, Any]] = [
        {"$match": {"ts": {"$gte": period.start, "$lt": period.end}}},
        {"$group": {"_id": group_id, "n": {"$sum": 1}}},
        {"$sort": {"n": -1, **sort}},
        {"$limit": n},
    ]
    return [doc async for doc in await db.failures.aggregate(pipeline)]


async def read_figures(db: Database, period: ReportPeriod, top_n: int) -> ReportFigures:
    """The period's figures; several small reads, each bounded by the period."""
    minutes = db.minute_counts.find({"minute": {"$gte": period.start, "$lt": period.end}})
    totals = fold_minutes([doc async for doc in minutes])
    ips = await _top(db, period, "$ip", {"_id": 1}, top_n)
    routes = await _top(db, period, {"m": "$method", "r": "$route"}, {"_id.m": 1, "_id.r": 1}, top_n)
    alert_groups = await db.alerts.aggregate(
        [
            {"$match": {"ts": {"$gte": period.start, "$lt": period.end}}},
            {"$group": {"_id": {"state": "$state", "status": "$status"}, "n": {"$sum": 1}}},
        ]
    )
    fired, suppressed, resolved = fold_alerts([g async for g in alert_groups])
    created = {"created_at": {"$gte": period.start, "$lt": period.end}}
    return replace(
        totals,
        top_ips=[(str(d["_id"]), int(d["n"])) for d in ips],
        top_routes=[
            (f"{d['_id'].get('m', '')} {d['_id'].get('r', '')}".strip(), int(d["n"])) for d in routes
        ],
        alerts_fired=fired,
        alerts_suppressed=suppressed,
        alerts_resolved=resolved,
        emails_sent=await db.emails.count_documents({**created, "status": "SENT"}),
        emails_failed=await db.emails.count_documents({**created, "status": "FAILED"}),
        emails_retried=await db.emails.count_documents({**created, "attempts": {"$gt": 1}}),
    )
