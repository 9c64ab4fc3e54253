"""Where each stored failure's second is written, so that a page of failures can be read by second.

FerretDB 1.24 pushes down only top-level equalities and sorts and limits in
memory (docs/mongodb.md): "the newest failures" read as one query fetches
every stored failure. So each failure carries ``second`` and ``tenth`` (the
start of its UTC second and tenth of a second, ms; both indexed), and each
failures minute document counts its failures per second in ``seconds``
(``{"s07": n}``, the second within the minute). A reader walks the minute
documents back from where it is and reads only the seconds that hold
failures, each by an equality on ``second``, or tenth by tenth where a
second holds many (``failstream.api.failure_walk``). Both are written in the
statements that store and count the failure, so the counts follow the
failures that carry a ``second``, also in a minute that began before an
upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping

SECOND_MS = 1000
TENTH_MS = 100
MINUTE_MS = 60_000
#: The failure's field: the start of its UTC second, ms.
SECOND = "second"
#: ... and of its tenth of a second.
TENTH = "tenth"
#: The minute document's map of failures per second.
FIELD = "seconds"


def second_of(ts: int) -> int:
    return ts - ts % SECOND_MS


def tenth_of(ts: int) -> int:
    return ts - ts % TENTH_MS


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
