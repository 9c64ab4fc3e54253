from __future__ import annotations

import orjson
import pytest

from failstream.settings import Settings


class RecordingSink:
    """Stands in for KafkaSink in unit tests of the capture logic (no Kafka involved)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    def send(self, topic: str, key: bytes | str | None, value: bytes) -> None:
        self.sent.append((topic, key.encode() if isinstance(key, str) else key, value))

    def events(self) -> list[dict]:
        return [orjson.loads(value) for _, _, value in self.sent]


@pytest.fixture
def recording_sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def unit_settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        service_name="unit",
        trusted_proxies=("10.0.0.0/8",),
        producer_spool_dir=tmp_path / "spool",
    )
