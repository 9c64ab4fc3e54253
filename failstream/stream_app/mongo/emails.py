"""Per-minute email counts (``minute_counts`` with source ``emails``), exact under replay."""

from __future__ import annotations

from failstream.events import EmailEvent
from failstream.stream_app.mongo import guarded_counts
from failstream.stream_app.mongo.client import Db
from failstream.stream_app.mongo.failures import minute_doc_id, minute_of, minute_skeletons
from failstream.stream_app.mongo.guarded_counts import Contribution, Delta, field_name

SOURCE = "emails"


def email_contribution(event: EmailEvent, partition: int, offset: int) -> Contribution:
    delta = Delta()
    delta.count("total")
    delta.count(f"emails.{event.status}")
    delta.count(f"services.{field_name(event.service)}")
    return Contribution(minute_doc_id(minute_of(event.ts), SOURCE, partition), partition, offset, delta)


async def persist_email_counts(db: Db, reads: list[tuple[EmailEvent, int, int]]) -> None:
    contributions = [email_contribution(e, p, o) for e, p, o in reads]
    skeleton = minute_skeletons(contributions, SOURCE)
    await guarded_counts.apply(db.minute_counts, contributions, skeleton=skeleton)
