"""Prometheus from Debian's ``prometheus`` package, scraping every Failstream process.

``failstream infra up --prometheus`` renders ``prometheus/prometheus.yml.tmpl``
with the local settings' ports into ``.infra/prometheus/`` and starts the
server as a managed process with its data in ``.infra/data/prometheus``.
The same template, rendered with the compose service names, is the
committed ``prometheus/prometheus.yml`` that docker compose mounts; tests
render it with free ports. One template, so no job can exist in one place
and be missing in another, and both send the rules' alerts to an Alertmanager.
"""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

import httpx

from failstream.infra.debian import ensure_binary
from failstream.infra.process import DATA_DIR, INFRA_DIR, InfraError, ManagedProcess, say
from failstream.settings import ROOT, Settings

CONFIG_DIR = ROOT / "prometheus"
TEMPLATE = CONFIG_DIR / "prometheus.yml.tmpl"
RULES_DIR = CONFIG_DIR / "rules"
COMPOSE_CONFIG = CONFIG_DIR / "prometheus.yml"
LOCAL_CONFIG = INFRA_DIR / "prometheus" / "prometheus.yml"
LOCAL_DATA = DATA_DIR / "prometheus"
ALERTMANAGER_CONFIG = CONFIG_DIR / "alertmanager.yml"
#: Alertmanager's default 9093 is the local Kafka's SSL port, so a local one listens here.
LOCAL_ALERTMANAGER = "127.0.0.1:9095"
COMPOSE_ALERTMANAGER = "alertmanager:9093"
PROMETHEUS = ManagedProcess("prometheus")


@dataclass(frozen=True)
class ScrapeTargets:
    """``host:port`` of each process's /metrics, one per job in the template."""

    stream: str
    persister: str
    alerting: str
    api: str
    demo_app: str
    prometheus: str

    @classmethod
    def local(cls, settings: Settings, prometheus_port: int) -> ScrapeTargets:
        def at(host: str, port: int) -> str:
            return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

        return cls(
            stream=at(settings.metrics_host, settings.metrics_stream_port),
            persister=at(settings.metrics_host, settings.metrics_persister_port),
            alerting=at(settings.metrics_host, settings.metrics_alerting_port),
            api=at(settings.api_host, settings.api_port),
            demo_app=at(settings.demo_host, settings.demo_port),
            prometheus=f"127.0.0.1:{prometheus_port}",
        )


#: The compose services (docker-compose.yml) and the default ports of their settings.
COMPOSE_TARGETS = ScrapeTargets(
    stream="stream:9201",
    persister="stream:9202",  # the persister is the stream container's child process
    alerting="alerting:9203",
    api="api:8000",
    demo_app="demo-app:8001",
    prometheus="localhost:9090",
)


def render_config(
    targets: ScrapeTargets,
    *,
    scrape_interval: str,
    rule_files: str,
    alertmanager: str = LOCAL_ALERTMANAGER,
) -> str:
    """The template with these targets; a missing or unknown placeholder raises KeyError."""
    return Template(TEMPLATE.read_text()).substitute(
        asdict(targets), scrape_interval=scrape_interval, rule_files=rule_files, alertmanager=alertmanager
    )


def render_compose_config() -> str:
    return render_config(
        COMPOSE_TARGETS,
        scrape_interval="15s",
        rule_files="/etc/prometheus/rules/*.yml",
        alertmanager=COMPOSE_ALERTMANAGER,
    )


def command(binary: str, config: Path, data_dir: Path, host: str, port: int) -> list[str]:
    """The server's argv: one config, one data dir, one listen address."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={host}:{port}",
        "--storage.tsdb.retention.time=15d",
    ]


def ready(host: str, port: int) -> bool:
    try:
        return httpx.get(f"http://{host}:{port}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def check_config(config: Path) -> None:
    """``promtool check config`` (which also checks the rule files it names)."""
    promtool = ensure_binary("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    if result.returncode != 0:
        raise InfraError(f"promtool rejected {config}:\n{result.stdout}{result.stderr}")


def up(settings: Settings) -> str:
    host, port = "127.0.0.1", settings.infra_prometheus_port
    if PROMETHEUS.pid() is None and ready(host, port):
        return f"prometheus already answering on {host}:{port} (not started by failstream)"
    if PROMETHEUS.pid() is None:
        binary = ensure_binary("prometheus", "prometheus")
        LOCAL_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        LOCAL_DATA.mkdir(parents=True, exist_ok=True)
        LOCAL_CONFIG.write_text(
            render_config(
                ScrapeTargets.local(settings, port), scrape_interval="5s", rule_files=f"{RULES_DIR}/*.yml"
            )
        )
        check_config(LOCAL_CONFIG)
        say(f"starting Prometheus on {host}:{port}")
        PROMETHEUS.start(command(binary, LOCAL_CONFIG, LOCAL_DATA, host, port))
    PROMETHEUS.wait_ready(lambda: ready(host, port), timeout_s=30)
    return f"prometheus up on http://{host}:{port} (pid {PROMETHEUS.pid()}), config {LOCAL_CONFIG}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Render prometheus/prometheus.yml for docker compose.")
    parser.add_argument("--compose", action="store_true", help=f"write {COMPOSE_CONFIG}")
    args = parser.parse_args()
    if args.compose:
        COMPOSE_CONFIG.write_text(render_compose_config())
        print(f"wrote {COMPOSE_CONFIG}")
    else:
        print(render_compose_config(), end="")


if __name__ == "__main__":
    main()
