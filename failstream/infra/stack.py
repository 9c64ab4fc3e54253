"""``failstream infra up|down|status``: the local services as one stack."""

from __future__ import annotations

from dataclasses import dataclass

from failstream.infra import ferretdb, kafka, postgres, prometheus, smtp_sink
from failstream.infra.process import ManagedProcess, port_open
from failstream.kafka_config import ensure_topics
from failstream.settings import Settings

#: Started in this order, stopped in reverse: FerretDB before the cluster it writes to.
SERVICES: tuple[ManagedProcess, ...] = (
    kafka.KAFKA,
    postgres.POSTGRES,
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


@dataclass(frozen=True)
class ServiceStatus:
    """One service as the processes would find it: does its configured address answer?

    ``required`` services fail ``infra status``; Prometheus is only started on request,
    and a remote service (Aiven, Atlas, the company relay) is not ours to report on.
    """

    name: str
    state: str  # "up", "down" or "remote"
    address: str
    pid: int | None
    required: bool

    @property
    def failing(self) -> bool:
        return self.required and self.state == "down"

    def line(self) -> str:
        if self.state == "remote":
            return f"{self.name}: remote {self.address} (not managed here)"
        owner = f"pid {self.pid}" if self.pid else "not started by failstream"
        if self.state == "up":
            return f"{self.name}: up on {self.address} ({owner})"
        if not self.required:
            return f"{self.name}: not running on {self.address} (optional: `infra up --prometheus`)"
        return f"{self.name}: DOWN, nothing answers on {self.address}"


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _probe(svc: ManagedProcess, address: tuple[str, int] | None, *, required: bool = True) -> ServiceStatus:
    """``address`` None: configured as a URI we do not parse for hosts (a remote MongoDB)."""
    if address is None:
        return ServiceStatus(svc.name, "remote", "FAILSTREAM_MONGO_URI", None, required=False)
    host, port = address[0].strip("[]"), address[1]
    where = f"{address[0]}:{port}"
    if host not in LOCAL_HOSTS:
        return ServiceStatus(svc.name, "remote", where, None, required=False)
    state = "up" if port_open(host, port) else "down"
    return ServiceStatus(svc.name, state, where, svc.pid(), required)


def status(settings: Settings) -> list[ServiceStatus]:
    """Each service probed at the address the settings give it, not trusted from a pid file.

    A pid file says failstream started something; only an answering port says the
    pipeline can use it (a crashed broker, or one started by hand, is told apart).
    """
    return [
        _probe(kafka.KAFKA, kafka.plaintext_address(settings)),
        _probe(ferretdb.FERRETDB, ferretdb.local_address(settings)),
        _probe(smtp_sink.SMTP_SINK, (settings.smtp_host, settings.smtp_port)),
        _probe(prometheus.PROMETHEUS, ("127.0.0.1", settings.infra_prometheus_port), required=False),
    ]
