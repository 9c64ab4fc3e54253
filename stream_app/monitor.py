"""A Faust monitor without per-event bookkeeping.

Faust's default ``Monitor`` times every message, stream event, table access
and send for its web statistics page, which this worker does not serve
(``web_enabled=False``): measured at ~7 % of a trivial agent's time per
message. Our own Prometheus metrics count what SREs read, per batch.
Commit and rebalance accounting stay as Faust has them.
"""

from __future__ import annotations

from typing import Any

from faust.sensors.monitor import Monitor


class LeanMonitor(Monitor):
    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None
