"""One alert as it came off Kafka: the parsed Alert plus where its bytes live."""

from __future__ import annotations

from dataclasses import dataclass

from failstream.events import Alert


@dataclass(frozen=True)
class AlertDelivery:
    """The original record is kept whole so a failed send can become a re-drivable dead letter."""

    alert: Alert
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def dead_letter_id(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"
