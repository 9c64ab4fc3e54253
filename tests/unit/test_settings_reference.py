"""docs/settings.md says, for every setting, which process reads it; it never goes stale."""

from __future__ import annotations

from failstream.settings import ROOT, Settings
from failstream.settings_reference import PROCESSES, readers, render


def test_every_setting_names_the_processes_that_read_it() -> None:
    unread = [name for name in Settings.model_fields if not readers(name)]
    assert unread == [], f"add these to failstream.settings_reference.READERS: {unread}"
    assert all(set(readers(name)) <= set(PROCESSES) for name in Settings.model_fields)


def test_the_settings_page_is_the_generated_one() -> None:
    page = (ROOT / "docs" / "settings.md").read_text()
    assert page == render(), (
        "docs/settings.md is stale: python -m failstream.settings_reference > docs/settings.md"
    )


def test_a_capture_only_host_sees_its_settings_and_not_the_server_s_secrets() -> None:
    capture = {name for name in Settings.model_fields if "capture" in readers(name)}
    assert {
        "kafka_bootstrap_servers",
        "topic_failed_requests",
        "trusted_proxies",
        "producer_spool_dir",
    } <= capture
    assert not capture & {"mongo_uri", "smtp_password", "api_admin_keys"}
