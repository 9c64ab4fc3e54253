"""docker-compose.yml opens nothing with a known secret and publishes the unauthenticated UIs on loopback."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from failstream.settings import ROOT

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
