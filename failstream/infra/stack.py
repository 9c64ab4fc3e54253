"""``failstream infra up|down|status``: the local services as one stack."""

from __future__ import annotations

from failstream.infra import ferretdb, kafka, prometheus, smtp_sink
from failstream.infra.process import ManagedProcess
from failstream.kafka_config import ensure_topics
from failstream.settings import Settings

SERVICES: tuple[ManagedProcess, ...] = (
    kafka.KAFKA,
    ferretdb.FERRETDB,
    smtp_sink.SMTP_SINK,
    prometheus.PROMETHEUS,
)


def up(settings: Settings, *, with_prometheus: bool = False) -> list[str]:
    """Start what is not running, wait until each answers; idempotent.

    Prometheus only when asked: tests and most runs need no scraper.
    """
    lines = [ferretdb.up(settings), smtp_sink.up(settings), kafka.up(settings)]
    ensure_topics(settings)
    lines.append("topics ready")
    if with_prometheus:
        lines.append(prometheus.up(settings))
    return lines


def down() -> list[str]:
    """Stop only what failstream started (recorded pid files)."""
    return [
        f"{svc.name}: {'stopped' if svc.stop() else 'not started by failstream'}"
        for svc in reversed(SERVICES)
    ]


def status() -> list[str]:
    return [f"{svc.name}: {f'running (pid {pid})' if (pid := svc.pid()) else 'stopped'}" for svc in SERVICES]
