"""The Prometheus configs (local and compose) come from one template and pass promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from failstream.infra.debian import ensure_binary
from failstream.infra.prometheus import (
    COMPOSE_ALERTMANAGER,
    COMPOSE_CONFIG,
    LOCAL_ALERTMANAGER,
    RULES_DIR,
    ScrapeTargets,
    check_config,
    render_compose_config,
    render_config,
)
from failstream.settings import ROOT, Settings

JOBS = {"stream", "persister", "alerting", "api", "demo-app", "prometheus"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = ensure_binary("promtool", "prometheus")
    return subprocess.run([promtool, *args], capture_output=True, text=True, cwd=ROOT)


def test_the_compose_config_is_the_template_rendered_for_compose() -> None:
    assert COMPOSE_CONFIG.read_text() == render_compose_config(), (
        "prometheus/prometheus.yml is stale: python -m failstream.infra.prometheus --compose"
    )


def test_local_config_scrapes_every_process_at_its_settings_port(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, metrics_stream_port=19201, metrics_persister_port=19202, metrics_alerting_port=19203
    )
    text = render_config(
        ScrapeTargets.local(settings, 19090), scrape_interval="1s", rule_files=f"{RULES_DIR}/*.yml"
    )
    config = yaml.safe_load(text)
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {
        "stream": ["127.0.0.1:19201"],
        "persister": ["127.0.0.1:19202"],
        "alerting": ["127.0.0.1:19203"],
        "api": [f"127.0.0.1:{settings.api_port}"],
        "demo-app": [f"127.0.0.1:{settings.demo_port}"],
        "prometheus": ["127.0.0.1:19090"],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    check_config(path)  # raises with promtool's output if rejected


def test_compose_config_has_the_same_jobs_and_passes_promtool(tmp_path: Path) -> None:
    config = yaml.safe_load(COMPOSE_CONFIG.read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == JOBS
    # promtool resolves rule_files on disk: point the compose path at the real rules
    local = COMPOSE_CONFIG.read_text().replace("/etc/prometheus/rules", str(RULES_DIR))
    (tmp_path / "prometheus.yml").write_text(local)
    result = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_pipeline_alert_rules_pass_promtool_check_rules() -> None:
    result = _promtool("check", "rules", *map(str, sorted(RULES_DIR.glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_pipeline_alert_rules_fire_on_their_promtool_unit_tests() -> None:
    result = _promtool("test", "rules", "prometheus/tests/pipeline_alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_configs_send_the_rules_alerts_to_an_alertmanager_on_a_port_of_its_own() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    local = yaml.safe_load(
        render_config(ScrapeTargets.local(settings, 9090), scrape_interval="5s", rule_files="r/*.yml")
    )
    compose = yaml.safe_load(COMPOSE_CONFIG.read_text())

    def alertmanagers(config: dict) -> list[str]:
        return [
            t
            for am in config["alerting"]["alertmanagers"]
            for c in am["static_configs"]
            for t in c["targets"]
        ]

    assert alertmanagers(compose) == [COMPOSE_ALERTMANAGER]
    assert alertmanagers(local) == [LOCAL_ALERTMANAGER]
    taken = {
        settings.infra_kafka_ssl_port,
        settings.infra_kafka_controller_port,
        settings.infra_prometheus_port,
        settings.smtp_port,
        settings.api_port,
        settings.demo_port,
        settings.metrics_stream_port,
        settings.metrics_persister_port,
        settings.metrics_alerting_port,
    }
    assert int(LOCAL_ALERTMANAGER.rsplit(":", 1)[1]) not in taken
