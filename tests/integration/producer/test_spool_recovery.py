"""What a crashed host left in its spool reaches the real broker: damage skipped and counted, order kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from failstream.producer.sink import KafkaSink
from failstream.producer.spool import DiskSpool, encode
from failstream.settings import Settings
from tests.integration.producer.support import read_events

pytestmark = pytest.mark.integration


def _dropped_corrupt() -> float:
    return (
        REGISTRY.get_sample_value("failstream_producer_dropped_events_total", {"cause": "spool_corrupt"})
        or 0.0
    )


def test_a_damaged_record_left_in_the_spool_costs_only_itself_and_the_rest_arrive_in_order(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"producer_spool_dir": tmp_path / "spool"})
    topic = settings.topic_failed_requests
    records = [(topic, b"10.4.4.4", b'{"n": %d}' % n) for n in range(200)]
    crashed = DiskSpool(settings.producer_spool_dir, settings.producer_spool_max_bytes)
    crashed.open()
    crashed.append(records)
    crashed.close()
    [segment] = (settings.producer_spool_dir / "slot-0").glob("*.seg")
    blob = bytearray(segment.read_bytes())
    blob[sum(len(encode(r)) for r in records[:50]) + 12] ^= 0xFF  # a bad sector under event 50
    segment.write_bytes(bytes(blob))
    before = _dropped_corrupt()

    sink = KafkaSink(settings)
    sink.start()
    assert sink.flush(30) == 0
    stats = sink.stats()
    sink.close(5)

    found = read_events(settings, topic, expect=199)
    assert [event["n"] for _, event in found] == [n for n in range(200) if n != 50]  # one key: one partition
    assert (stats["replayed"], stats["spool_corrupt"]) == (199, 1)
    assert _dropped_corrupt() == before + 1
