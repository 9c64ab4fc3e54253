"""Faust wiring: topics, tables and agents, calling the Faust-free logic."""

from __future__ import annotations

import logging
from typing import Any

import faust
from pydantic import ValidationError

from failstream.kafka_config import ensure_topics, faust_broker_options
from failstream.settings import Settings
from producer.events import Alert, FailedRequest, dumps, new_event_id, now_ms
from stream_app import persistence
from stream_app.detection.ip_rule import RULE, IpState, observe

log = logging.getLogger("failstream.stream")


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.stream_app_id,
        **faust_broker_options(settings),
        store="memory://",
        topic_partitions=settings.kafka_partitions,
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    failures = app.topic(settings.topic_failed_requests, key_type=bytes, value_type=bytes)
    alerts = app.topic(settings.topic_alerts, key_type=bytes, value_type=bytes)
    ip_table = app.Table(
        "ip-state",
        default=dict,
        partitions=settings.kafka_partitions,
        key_type=bytes,
        value_type=None,
        # the producer partitions by murmur2 like Kafka's Java
        # client, so the changelog lands co-partitioned with
        # the source topic without a per-event context
        use_partitioner=True,
    )

    @app.agent(failures)
    async def process_failures(stream: Any) -> None:
        db = persistence.connect(settings)
        await persistence.ensure_indexes(db)
        async for batch in stream.take_events(500, within=0.05):
            events: list[FailedRequest] = []
            for record in batch:
                try:
                    events.append(FailedRequest.model_validate_json(record.value))
                except ValidationError as exc:
                    log.warning("malformed failed-request event: %s", exc.errors()[:1])
            for event in events:
                ip_state = IpState.from_dict(ip_table[event.ip.encode()])
                firing = observe(
                    ip_state,
                    ip=event.ip,
                    event_id=event.event_id,
                    ts=event.ts,
                    reason=event.reason,
                    route=event.route,
                    threshold=settings.rule_ip_threshold,
                    window_ms=settings.rule_ip_window_s * 1000,
                )
                ip_table[event.ip.encode()] = ip_state.to_dict()
                if firing is not None:
                    alert = Alert(
                        event_id=new_event_id(),
                        ts=now_ms(),
                        alert_key=firing.alert_key,
                        rule=RULE,
                        subject=firing.subject,
                        episode_start=firing.episode_start,
                        count=firing.count,
                        threshold=settings.rule_ip_threshold,
                        window_s=settings.rule_ip_window_s,
                        first_seen=ip_state.first_seen,
                        last_seen=ip_state.last_seen,
                        reasons=dict(ip_state.reasons),
                        routes=dict(ip_state.routes),
                    )
                    await alerts.send(key=firing.subject.encode(), value=dumps(alert))
            await persistence.persist_failures(db, events)

    return app


def run_worker(settings: Settings) -> None:
    ensure_topics(settings)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel="INFO")
    worker.execute_from_commandline()
