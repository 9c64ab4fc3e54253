"""A real Prometheus scrapes the real pipeline under demo traffic; every dashboard query has data.

Prometheus (Debian's package) runs with the local config rendered from the
one template, a 1 s scrape interval, a free port and a data dir under
``tmp_path``. The stream worker (and its persister), alerting, the API and
the demo service run as real processes on isolated topics, database and
free ports; ``failstream demo``'s own traffic generator sends the requests.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from failstream.demo import _send_traffic
from failstream.infra.debian import ensure_binary
from failstream.infra.prometheus import RULES_DIR, ScrapeTargets, check_config, command, ready, render_config
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, SmtpSink, free_port, wait_until
from tests.unit.observability.dashboards import PanelQuery, panel_queries

pytestmark = pytest.mark.integration

JOBS = ("stream", "persister", "alerting", "api", "demo-app", "prometheus")


@dataclass(frozen=True)
class RunningPrometheus:
    url: str
    config: Path

    def query(self, expr: str) -> list[dict]:
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5).json()
        assert reply["status"] == "success", (expr, reply)
        result: list[dict] = reply["data"]["result"]
        return result

    def values(self, expr: str) -> list[float]:
        return [float(series["value"][1]) for series in self.query(expr)]


@pytest.fixture
def pipeline_settings(settings: Settings, smtp_sink: SmtpSink) -> Settings:
    return settings.model_copy(
        update={
            "smtp_port": smtp_sink.port,
            "group_wait_s": 1.0,
            "metrics_stream_port": free_port(),
            "metrics_persister_port": free_port(),
            "metrics_alerting_port": free_port(),
            "metrics_lag_interval_s": 1.0,
        }
    )


@pytest.fixture
def prometheus(pipeline_settings: Settings, tmp_path: Path) -> Iterator[RunningPrometheus]:
    binary = ensure_binary("prometheus", "prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_config(
            ScrapeTargets.local(pipeline_settings, port),
            scrape_interval="1s",
            rule_files=f"{RULES_DIR}/*.yml",
        )
    )
    check_config(config)  # promtool check config (rule files included)
    with (tmp_path / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            command(binary, config, tmp_path / "prometheus-data", "127.0.0.1", port),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: ready("127.0.0.1", port), 30, "Prometheus ready")
        yield RunningPrometheus(f"http://127.0.0.1:{port}", config)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _has_data(prometheus: RunningPrometheus, query: PanelQuery) -> bool:
    """Non-empty, and at least one series has a number (a quantile of nothing is NaN)."""
    return any(not math.isnan(v) for v in prometheus.values(query.expr))


def test_every_dashboard_query_returns_data_from_the_real_pipeline(
    pipeline_settings: Settings, prometheus: RunningPrometheus, processes: ProcessGroup, smtp_sink: SmtpSink
) -> None:
    settings = pipeline_settings
    for name in ("stream", "alerting", "api", "demo-app"):
        processes.start(name, name, settings)
    api = f"http://{settings.api_host}:{settings.api_port}"
    wait_until(lambda: _answers(f"http://{settings.demo_host}:{settings.demo_port}/healthz"), 60, "demo app")
    wait_until(lambda: _answers(f"{api}/healthz"), 60, "the API")

    def targets_up() -> bool:
        active = httpx.get(f"{prometheus.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return {t["labels"]["job"] for t in active if t["health"] == "up"} == set(JOBS)

    wait_until(targets_up, 60, f"every job up in Prometheus: {JOBS}", interval_s=1)

    queries = panel_queries()
    missing = list(queries)
    deadline = time.monotonic() + 150
    headers = {"X-API-Key": settings.api_read_keys[0].get_secret_value()}
    while missing and time.monotonic() < deadline:
        _send_traffic(settings, rounds=5)  # the traffic `failstream demo` sends
        httpx.get(f"{api}/api/v1/stats/summary", headers=headers, timeout=5)
        time.sleep(1)
        missing = [q for q in missing if not _has_data(prometheus, q)]
    assert not missing, "dashboard queries without data:\n" + "\n".join(map(str, missing))

    # the data is the pipeline's own work, not only series initialised at zero
    assert sum(prometheus.values("sum(failstream_producer_captured_events_total)")) > 0
    assert sum(prometheus.values('sum(failstream_stream_events_total{outcome="processed"})')) > 0
    assert sum(prometheus.values("sum(failstream_stream_persisted_total)")) > 0
    assert sum(prometheus.values("sum(failstream_stream_alerts_published_total)")) > 0
    assert sum(prometheus.values('failstream_alerting_email_transitions_total{status="SENT"}')) > 0
    assert len(smtp_sink.messages()) > 0
    assert prometheus.values("count(failstream_kafka_consumer_lag)")[0] >= 3 * settings.kafka_partitions
    for expr in panel_queries():
        assert 'ip"' not in expr.expr  # label sets stay bounded: nothing groups by client IP

    rules = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    loaded = {r["name"]: r["health"] for g in rules for r in g["rules"]}
    assert set(loaded) == {
        "FailstreamConsumerLagGrowing",
        "FailstreamDeadLettersRising",
        "FailstreamSmtpFailing",
        "FailstreamNoEvents",
        "FailstreamProcessDown",
    }
    assert set(loaded.values()) == {"ok"}, loaded


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
