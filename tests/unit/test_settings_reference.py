"""Each process reads its own settings class; docs/settings.md lists them and never goes stale."""

from __future__ import annotations

import pytest

from failstream.settings import ROOT, CaptureSettings, Settings
from failstream.settings_reference import PROCESSES, local_only_fields, process_fields, render


def test_every_setting_is_read_by_a_process_or_the_local_tools() -> None:
    listed = {name for process in PROCESSES for name in process_fields(process)} | set(local_only_fields())
    assert listed == set(Settings.model_fields)


def test_the_settings_page_is_the_generated_one() -> None:
    page = (ROOT / "docs" / "settings.md").read_text()
    assert page == render(), (
        "docs/settings.md is stale: python -m failstream.settings_reference > docs/settings.md"
    )


def test_a_capture_only_host_sees_its_settings_and_not_the_server_s_secrets() -> None:
    capture = set(process_fields("capture"))
    assert {
        "kafka_bootstrap_servers",
        "topic_failed_requests",
        "trusted_proxies",
        "producer_spool_dir",
    } <= capture
    assert not capture & {"mongo_uri", "smtp_password", "api_admin_keys", "receivers"}


def test_a_host_starts_whatever_the_servers_variables_say(monkeypatch: pytest.MonkeyPatch) -> None:
    # a shared .env or environment may hold server settings a host cannot read; its capture must not care
    monkeypatch.setenv("FAILSTREAM_SMTP_TLS", "no-such-mode")
    monkeypatch.setenv("FAILSTREAM_RECEIVERS", "not json")
    monkeypatch.setenv("FAILSTREAM_SERVICE_NAME", "billing")
    assert CaptureSettings().service_name == "billing"
    with pytest.raises(ValueError, match="smtp_tls"):
        Settings()


def test_environment_names_are_the_field_names_in_every_process_class() -> None:
    for process in PROCESSES:
        cls = PROCESSES[process][0]
        assert set(cls().as_env()) == {f"FAILSTREAM_{name.upper()}" for name in cls.model_fields}
