"""docker-compose.yml opens nothing with a known secret, publishes the unauthenticated UIs on loopback,
and is operable as shipped: healthchecks, pinned images, persistent Kafka, healthy start order, alerts
that reach someone. No Docker engine runs here, so these are read from the file itself."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml

from failstream.settings import ROOT, Settings

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _env_files(service: dict[str, Any]) -> list[str]:
    files = service.get("env_file") or []
    files = [files] if isinstance(files, str | dict) else files
    return [f if isinstance(f, str) else f["path"] for f in files]


def _host_of(port: str | int | dict[str, Any]) -> str:
    """The host address a ports entry publishes on ("" = every interface)."""
    if isinstance(port, dict):
        return str(port.get("host_ip", ""))
    parts = str(port).rsplit(":", 2)
    return parts[0] if len(parts) == 3 else ""


@pytest.mark.parametrize("name", ["mailpit", "prometheus", "grafana"])
def test_unauthenticated_uis_publish_on_loopback_only(name: str) -> None:
    ports = _services()[name].get("ports", [])
    assert ports, f"{name} publishes nothing"
    assert all(_host_of(p) == "127.0.0.1" for p in ports), ports


def test_only_the_api_publishes_beyond_this_host() -> None:
    wide = {
        name for name, svc in _services().items() for p in svc.get("ports", []) if _host_of(p) != "127.0.0.1"
    }
    assert wide <= {"api"}


def test_every_failstream_process_reads_its_secrets_from_the_env_file() -> None:
    services = _services()
    for name in ("api", "stream", "alerting", "demo-app"):
        assert ".env" in _env_files(services[name]), name


def test_the_api_sets_no_key_itself_and_so_refuses_to_start_without_keys_from_the_env_file() -> None:
    env = _environment(_services()["api"])
    assert env.get("FAILSTREAM_API_HOST") == "0.0.0.0"  # why api.key_policy refuses the dev keys there
    assert not {"FAILSTREAM_API_READ_KEYS", "FAILSTREAM_API_ADMIN_KEYS"} & env.keys()
    assert "dev-read-key" not in COMPOSE.read_text() and "dev-admin-key" not in COMPOSE.read_text()


def test_grafana_has_no_anonymous_access_and_no_default_admin_password() -> None:
    env = _environment(_services()["grafana"])
    assert env.get("GF_AUTH_ANONYMOUS_ENABLED", "false").lower() == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in env
    # required from .env: compose stops with this message instead of using admin/admin
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?.+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert env.get("GF_USERS_ALLOW_SIGN_UP", "false").lower() == "false"


def test_grafana_provisioning_grants_no_anonymous_role() -> None:
    for path in (ROOT / "grafana" / "provisioning").rglob("*.y*ml"):
        assert "anonymous" not in path.read_text().lower(), path


def test_env_example_documents_every_secret_the_compose_file_needs_and_holds_none() -> None:
    example = ENV_EXAMPLE.read_text()
    values = dict(
        line.split("=", 1)
        for line in example.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert {
        "FAILSTREAM_API_READ_KEYS",
        "FAILSTREAM_API_ADMIN_KEYS",
        "GRAFANA_ADMIN_PASSWORD",
    } <= values.keys()
    assert all(v == "" for v in values.values()), "an example value would become everyone's secret"
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert required <= values.keys()


def test_the_env_file_is_never_committed() -> None:
    ignored = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert ".env" in ignored


# --- operable as shipped: healthchecks, pinned images, persistence, start order ---------------

#: "<name>:<version>" with at least major.minor: `latest`, `7` or no tag can change under you.
PINNED_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)*([.-][\w.]+)?$")


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return compose


def _failstream_services() -> dict[str, Any]:
    """The services built from this repository's Dockerfile: Failstream's own processes."""
    return {name: svc for name, svc in _services().items() if "build" in svc}


def test_every_service_has_a_healthcheck_that_runs_a_command() -> None:
    for name, svc in _services().items():
        check = svc.get("healthcheck") or {}
        assert not check.get("disable"), name
        test = check.get("test")
        assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name


@pytest.mark.parametrize(
    ("name", "urls"),
    [
        (
            "stream",
            [
                "http://127.0.0.1:{metrics_stream_port}/readyz",
                "http://127.0.0.1:{metrics_persister_port}/readyz",
            ],
        ),
        ("alerting", ["http://127.0.0.1:{metrics_alerting_port}/readyz"]),
        ("api", ["http://127.0.0.1:{api_port}/readyz"]),
        ("demo-app", ["http://127.0.0.1:{demo_port}/healthz"]),
    ],
)
def test_failstream_processes_are_probed_on_their_settings_ports(name: str, urls: list[str]) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    test = _services()[name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "urlopen" in test[3]  # fails (exit 1) on a refused connection or any non-2xx answer
    assert test[4:] == [url.format(**settings.model_dump()) for url in urls]


def test_every_image_is_pinned_to_a_version() -> None:
    for name, svc in _services().items():
        if "build" in svc:
            continue
        image = svc["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag and PINNED_TAG.match(tag), f"{name}: {image}"


def test_kafka_keeps_its_log_dirs_in_a_named_volume() -> None:
    kafka = _services()["kafka"]
    log_dirs = _environment(kafka)["KAFKA_LOG_DIRS"]
    mounts = dict(str(v).split(":", 1) for v in kafka["volumes"])
    volume = next(source for source, target in mounts.items() if target.split(":")[0] == log_dirs)
    assert volume in (_compose().get("volumes") or {}), f"{volume} is not a named volume"


def test_failstream_services_extend_the_shared_environment_instead_of_replacing_it() -> None:
    shared = {k: str(v) for k, v in _compose()["x-env"].items()}
    assert {"FAILSTREAM_KAFKA_BOOTSTRAP_SERVERS", "FAILSTREAM_MONGO_URI"} <= shared.keys()
    services = _failstream_services()
    assert set(services) == {"stream", "alerting", "api", "demo-app"}
    for name, svc in services.items():
        env = _environment(svc)
        assert env.items() >= shared.items(), f"{name} lost {shared.keys() - env.keys()}"


def test_services_start_after_their_dependencies_are_healthy() -> None:
    services = _services()
    for name, svc in services.items():
        depends_on = svc.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: a list waits only for 'started'"
        for dependency, condition in depends_on.items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in services[dependency], f"{name} waits on {dependency}, which has none"
    for name in _failstream_services():
        assert "kafka" in services[name]["depends_on"], name


def test_alertmanager_runs_with_the_committed_config_that_prometheus_sends_to() -> None:
    from failstream.infra.prometheus import ALERTMANAGER_CONFIG, COMPOSE_ALERTMANAGER, COMPOSE_CONFIG

    alertmanager = _services()["alertmanager"]
    config_mount = f"./{ALERTMANAGER_CONFIG.relative_to(ROOT)}:/etc/alertmanager/alertmanager.yml:ro"
    assert config_mount in alertmanager["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    prometheus_config = yaml.safe_load(COMPOSE_CONFIG.read_text())
    [targets] = [
        c["targets"] for am in prometheus_config["alerting"]["alertmanagers"] for c in am["static_configs"]
    ]
    assert targets == [COMPOSE_ALERTMANAGER] and COMPOSE_ALERTMANAGER.startswith("alertmanager:")


def test_alertmanager_config_passes_amtool_and_routes_every_alert_to_a_receiver() -> None:
    from failstream.infra.debian import ensure_binary
    from failstream.infra.prometheus import ALERTMANAGER_CONFIG

    amtool = ensure_binary("amtool", "prometheus-alertmanager")
    result = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER_CONFIG)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    default = receivers[config["route"]["receiver"]]
    assert default.get("email_configs"), "the default route reaches no one"
    # it mails through the compose SMTP service, which the alertmanager service waits for
    assert config["global"]["smtp_smarthost"].split(":")[0] in _services()["alertmanager"]["depends_on"]
