"""The compact copies of failures the worker forwards to the prefix repartition topic.

The addresses of one prefix hash to every partition of ``failed-requests``;
their failures meet only on the repartition topic, keyed by the prefix
(docs/address-rotation.md). A record holds the failures of one prefix read
from one source partition in one batch, in offset order, with the fields the
rule reads: a rotation flood of one prefix is one record per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import orjson

from failstream.settings import Settings
from failstream.stream_app.detection.ip_detector import id_hash
from failstream.stream_app.detection.prefixes import AddressPrefixes
from failstream.stream_app.detection.rules import Allowlist
from failstream.stream_app.mongo.failures import Read


def repartition_topic(settings: Settings) -> str:
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
    reads: Iterable[Read], prefixes: AddressPrefixes, allowlist: Allowlist
) -> list[tuple[bytes, bytes]]:
    """(prefix, record) for each prefix and source partition of the batch; allowlisted IPs never count."""
    if not prefixes.enabled:
        return []
    # plain tuples in ForwardedFailure's order: orjson writes tuples, not NamedTuples
    groups: dict[tuple[str, int], list[tuple[int, int, str, str, str, str, int]]] = {}
    for event, partition, offset in reads:
        prefix = prefixes.of(event.ip)  # first: None at once for IPv4 while it is not aggregated
        if prefix is None or event.ip in allowlist:
            continue
        groups.setdefault((prefix, partition), []).append(
            (offset, event.ts, event.ip, event.reason, event.route, event.service, id_hash(event.event_id))
        )
    # copies: orjson hands back its whole write buffer (4 KiB), held until the broker acks
    return [
        (prefix.encode(), bytes(memoryview(orjson.dumps([partition, sorted(failures)]))))
        for (prefix, partition), failures in groups.items()
    ]


def read_record(raw: bytes) -> tuple[int, list[ForwardedFailure]]:
    """The source partition and failures of a forwarded record; ValueError if it is none."""
    try:
        partition, failures = orjson.loads(raw)
        return int(partition), [ForwardedFailure(*f) for f in failures]
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"not a forwarded-failures record: {exc}") from exc
