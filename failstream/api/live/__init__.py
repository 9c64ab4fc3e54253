"""The live feed: ``live-counts`` from Kafka, pushed every second over WebSocket and SSE.

``feed`` (one Kafka consumer per API process) -> ``seconds`` (sum the stream
workers' records per second, release each once due) -> ``hub`` (fan-out with a
bounded buffer per client and a replay ring) -> ``websocket`` / ``sse`` (one
task per client, sends under a timeout). ``running_feed`` wires it into the
app's lifespan; ``router`` serves it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from failstream.api.live import metrics
from failstream.api.live.feed import LiveFeed
from failstream.api.live.hub import LiveHub
from failstream.api.live.routes import router
from failstream.api.live.shutdown import end_streams_on_exit_signal
from failstream.settings import ApiSettings

__all__ = ["router", "running_feed"]


@asynccontextmanager
async def running_feed(app: FastAPI, settings: ApiSettings) -> AsyncIterator[LiveFeed]:
    """Start the feed for the app's lifetime; the routes find the hub in ``app.state.live_hub``."""
    hub = LiveHub(replay=settings.api_live_replay_s, client_queue=settings.api_live_client_queue)
    feed = LiveFeed(settings, hub)
    app.state.live_hub = hub
    app.state.live_feed = feed
    api_metrics = getattr(app.state, "api_metrics", None)
    if api_metrics is not None and not getattr(app.state, "live_metrics_registered", False):
        metrics.register(api_metrics.registry, app.state)
        app.state.live_metrics_registered = True
    await feed.start()
    restore_signals = end_streams_on_exit_signal(hub)
    try:
        yield feed
    finally:
        restore_signals()
        await feed.stop()
