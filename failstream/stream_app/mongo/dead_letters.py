"""The ``dead_letters`` collection: one document per unusable message, by its place."""

from __future__ import annotations

from pymongo.errors import BulkWriteError

from failstream.events import DeadLetter
from failstream.stream_app.mongo.client import Db


def dead_letter_id(letter: DeadLetter) -> str:
    return f"{letter.source_topic}:{letter.partition}:{letter.offset}"


async def store_dead_letters(db: Db, letters: list[DeadLetter]) -> None:
    """Insert each letter once; a replayed one is already there."""
    if not letters:
        return
    try:
        await db.dead_letters.insert_many(
            [{"_id": dead_letter_id(d), **d.model_dump()} for d in letters], ordered=False
        )
    except BulkWriteError as exc:
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise
