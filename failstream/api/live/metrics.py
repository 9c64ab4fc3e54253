"""The live feed's health for Prometheus: connected clients, dropped clients, feed age.

Read from the hub and the feed when scraped (a collector, not counters bumped
on the hot path), into the app's own registry next to the request metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.datastructures import State

from failstream.api.live.feed import LiveFeed
from failstream.api.live.hub import LiveHub
from failstream.events import now_ms


class LiveCollector:
    """Reads ``state.live_hub`` / ``state.live_feed`` at scrape time (they change per lifespan)."""

    def __init__(self, state: State, clock: Callable[[], int] = now_ms) -> None:
        self._state = state
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        hub: LiveHub | None = getattr(self._state, "live_hub", None)
        feed: LiveFeed | None = getattr(self._state, "live_feed", None)
        if hub is None or feed is None:
            return
        yield GaugeMetricFamily(
            "failstream_api_live_clients", "WebSocket and SSE clients of the live feed", hub.clients
        )
        yield CounterMetricFamily(
            "failstream_api_live_dropped_clients",
            "live clients dropped as too slow (full buffer or send timeout)",
            hub.dropped,
        )
        yield CounterMetricFamily(
            "failstream_api_live_late_records",
            "live-counts records that came after their second was pushed (folded into the next)",
            feed.seconds.folded,
        )
        latest = hub.latest
        if latest is not None:
            yield GaugeMetricFamily(
                "failstream_api_live_age_seconds",
                "how far the last pushed second lies behind now",
                (self._clock() - latest) / 1000,
            )


def register(registry: CollectorRegistry, state: State) -> None:
    registry.register(LiveCollector(state))
