"""Where each stored failure's second is written, so that a page of failures can be read by second.

FerretDB 1.24 pushes down only top-level equalities and sorts and limits in
memory (docs/mongodb.md): "the newest failures" read as one query fetches
every stored failure. So each failure carries ``second`` (the start of its
UTC second, ms; indexed), and each failures minute document counts its
failures per second in ``seconds`` (``{"s07": n}``, the second within the
minute). A reader walks the minute documents back from where it is and
reads only the seconds that hold failures, each by an equality on
``second`` (``failstream.api.failure_walk``). A minute document is born
with ``seconds_kept: true``; one without it was born before the counts were
kept, and its failures may have no ``second``.
"""

from __future__ import annotations

from collections.abc import Mapping

SECOND_MS = 1000
MINUTE_MS = 60_000
#: The failure's field: the start of its UTC second, ms.
SECOND = "second"
#: The minute document's map of failures per second, and its birth mark.
FIELD = "seconds"
KEPT = "seconds_kept"


def second_of(ts: int) -> int:
    return ts - ts % SECOND_MS


def counter_name(ts: int) -> str:
    """The minute document's counter of the second holding ``ts``."""
    return f"{FIELD}.s{ts % MINUTE_MS // SECOND_MS:02d}"


def counted(minute: int, counts: object) -> dict[int, int]:
    """A minute document's ``seconds`` as {start of the second, ms: failures}; anything else dropped."""
    if not isinstance(counts, Mapping):
        return {}
    out: dict[int, int] = {}
    for key, n in counts.items():
        name = str(key)
        if (
            name[:1] == "s"
            and name[1:].isdigit()
            and isinstance(n, int)
            and not isinstance(n, bool)
            and n > 0
        ):
            out[minute + int(name[1:]) * SECOND_MS] = n
    return out
