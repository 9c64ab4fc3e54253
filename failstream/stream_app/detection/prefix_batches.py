"""Forwarded failures through the ``prefix-failures`` rule, per batch (no Faust here).

The worker's agent on the repartition topic hands each batch to ``detect``,
publishes the alerts, then writes the changed states to its table and waits
for their changelog records to be acknowledged before the batch is acked;
any dict-like table works (``apply``), so tests and benchmarks drive the
same code without a broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping, Sequence
from typing import Protocol

from failstream.events import Alert
from failstream.events import now_ms as wall_ms
from failstream.settings import StreamSettings
from failstream.stream_app.detection.alert import to_alert
from failstream.stream_app.detection.notification import Notification
from failstream.stream_app.detection.prefix_detector import PrefixDetector, PrefixState
from failstream.stream_app.detection.prefix_forward import read_record
from failstream.stream_app.detection.rules import DetectionRules

log = logging.getLogger("failstream.stream")

#: Changed states: the encoded state, or None to forget the prefix.
Changes = dict[bytes, bytes | None]


class ValueRecord(Protocol):
    @property
    def value(self) -> bytes | None: ...


class PrefixBatches:
    def __init__(
        self,
        settings: StreamSettings,
        table: MutableMapping[bytes, bytes],
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.detector = PrefixDetector(DetectionRules.from_settings(settings).prefix)
        self.table = table
        self._clock = clock
        # as for IPs: how far behind the wall clock each prefix's newest event was when applied
        self._behind_ms: dict[bytes, int] = {}

    def detect(self, records: Sequence[ValueRecord]) -> tuple[list[Alert], Changes]:
        """The alerts of a batch and the states it changed; ``table`` is not written here."""
        states: dict[bytes, PrefixState] = {}
        notes: list[Notification] = []
        observe = self.detector.observe
        for r in records:
            if not r.value:
                continue
            try:
                groups = read_record(r.value)
            except ValueError as exc:  # only this worker writes the topic: a bug, not an attack
                log.error("prefix record skipped: %s", exc)
                continue
            for prefix, partition, failures in groups:
                key = prefix.encode()
                state = states.get(key)
                if state is None:
                    state = states[key] = PrefixState.decode(self.table.get(key))
                for failure in failures:
                    notes += observe(state, prefix, partition, failure)
        now = self._clock()
        for key, state in states.items():
            self._behind_ms[key] = max(0, now - state.rule.max_ts) if state.rule.max_ts >= 0 else 0
        return [to_alert(n) for n in notes], {key: state.encode() for key, state in states.items()}

    def sweep(self, now_ms: int) -> tuple[list[Alert], Changes]:
        """Resolve quiet episodes and forget idle prefixes, quiet measured from when last applied."""
        notes: list[Notification] = []
        changes: Changes = {}
        behind = self._behind_ms
        kept: dict[bytes, int] = {}
        for key, raw in list(self.table.items()):
            state = PrefixState.decode(raw)
            lag = behind.get(key, 0)
            found, forget = self.detector.sweep(state, key.decode(errors="replace"), now_ms - lag)
            notes += found
            if forget:
                changes[key] = None
                continue
            if found:
                changes[key] = state.encode()
            if lag:
                kept[key] = lag
        self._behind_ms = kept  # keys handed over in a rebalance leave with the sweep
        return [to_alert(n) for n in notes], changes

    def apply(self, changes: Changes) -> None:
        for key, raw in changes.items():
            if raw is None:
                self.table.pop(key, None)
            else:
                self.table[key] = raw
