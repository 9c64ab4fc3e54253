"""The compact copies of failures the worker forwards to the prefix repartition topic.

The addresses of one prefix hash to every partition of ``failed-requests``;
their failures meet only on the repartition topic, in the partition of the
prefix (docs/address-rotation.md). A record packs, for one repartition
partition, the failures of a batch per (prefix, source partition), in offset
order, with the fields the rule reads: a batch is a handful of records, not
one per failure (one per failure halved the worker's rate in a flood of
distinct /64s: the sends, and Faust's per-event path for each on the agent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import orjson

from failstream.settings import StreamSettings
from failstream.stream_app.detection.ip_detector import id_hash
from failstream.stream_app.detection.prefixes import AddressPrefixes
from failstream.stream_app.detection.rules import Allowlist
from failstream.stream_app.mongo.failures import Read

#: Records stay well under the broker's default message.max.bytes (1 MB).
MAX_RECORD_BYTES = 256 * 1024
#: A failure's fixed share of a record, besides its text fields.
_FIXED_BYTES = 48

#: Failures of one prefix from one source partition: (prefix, source partition, failures in offset order).
Group = tuple[str, int, list[tuple[int, int, str, str, str, str, int]]]
#: One round of sends: (repartition partition, record).
Round = list[tuple[int, bytes]]


def repartition_topic(settings: StreamSettings) -> str:
    """Named like Faust's own repartition topics: internal to the worker's app id, created by it."""
    return f"{settings.stream_app_id}-failures-by-prefix-repartition"


class ForwardedFailure(NamedTuple):
    offset: int  # in its source partition: a replayed copy is recognised by it
    ts: int
    ip: str
    reason: str
    route: str
    service: str
    id_hash: int  # a producer's re-sent duplicate has another offset but the same id


def forwarded_records(
    reads: Iterable[Read],
    prefixes: AddressPrefixes,
    allowlist: Allowlist,
    partition_of: Callable[[bytes], int],
) -> list[Round]:
    """The batch's records, in rounds sent one after another; allowlisted IPs, refused requests never count.

    ``partition_of`` is the prefix table's partition of a key. Within a round
    no two records hold failures of the same (prefix, source partition), so a
    round's records may be sent (and re-sent) in any order: the rule drops
    what is at or below a pair's last applied offset, and a pair split across
    records (more than a record holds) has its parts in successive rounds.
    """
    if not prefixes.enabled:
        return []
    # plain tuples in ForwardedFailure's order: orjson writes tuples, not NamedTuples
    groups: dict[tuple[str, int], list[tuple[int, int, str, str, str, str, int]]] = {}
    for event, partition, offset in reads:
        prefix = prefixes.of(event.ip)  # first: None at once for IPv4 while it is not aggregated
        # a refused request (decision enforcement) must not keep its own prefix's decision alive
        if prefix is None or event.ip in allowlist or event.reason == "blocked":
            continue
        groups.setdefault((prefix, partition), []).append(
            (offset, event.ts, event.ip, event.reason, event.route, event.service, id_hash(event.event_id))
        )
    # rounds[i][repartition partition] = the groups' i-th parts bound for it
    rounds: list[dict[int, list[Group]]] = []
    for (prefix, source), failures in groups.items():
        target = partition_of(prefix.encode())
        for i, part in enumerate(_parts(sorted(failures))):
            if i == len(rounds):
                rounds.append({})
            rounds[i].setdefault(target, []).append((prefix, source, part))
    return [[(target, record) for target, parts in r.items() for record in _pack(parts)] for r in rounds]


def _size(failure: tuple[int, int, str, str, str, str, int]) -> int:
    return _FIXED_BYTES + len(failure[2]) + len(failure[3]) + len(failure[4]) + len(failure[5])


def _parts(failures: list[Any]) -> list[list[Any]]:
    """The failures in consecutive parts of at most MAX_RECORD_BYTES (one part almost always)."""
    parts: list[list[Any]] = [[]]
    size = 0
    for failure in failures:
        n = _size(failure)
        if parts[-1] and size + n > MAX_RECORD_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(failure)
        size += n
    return parts


def _pack(groups: list[Group]) -> list[bytes]:
    """The groups in as few records of at most about MAX_RECORD_BYTES as they fill, in order."""
    records: list[list[Group]] = [[]]
    size = 0
    for group in groups:
        n = 64 + sum(_size(f) for f in group[2])
        if records[-1] and size + n > MAX_RECORD_BYTES:
            records.append([])
            size = 0
        records[-1].append(group)
        size += n
    # copies: orjson hands back its whole write buffer (4 KiB), held until the broker acks
    return [bytes(memoryview(orjson.dumps(record))) for record in records]


def read_record(raw: bytes) -> list[tuple[str, int, list[ForwardedFailure]]]:
    """Each (prefix, source partition, failures) of a forwarded record; ValueError if it is none."""
    try:
        return [
            (str(prefix), int(partition), [ForwardedFailure(*f) for f in failures])
            for prefix, partition, failures in orjson.loads(raw)
        ]
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"not a forwarded-failures record: {exc}") from exc
