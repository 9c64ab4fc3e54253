"""FAILSTREAM_REPORT_SCHEDULES: a JSON list, validated with errors that name the schedule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from failstream.settings import Settings


def settings_with(monkeypatch: pytest.MonkeyPatch, value: str) -> Settings:
    monkeypatch.setenv("FAILSTREAM_REPORT_SCHEDULES", value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_schedules_are_read_from_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings_with(
        monkeypatch,
        '[{"name": "daily", "at": "08:00", "tz": "Europe/Berlin", "period": "day",'
        ' "recipients": ["oncall@example.com"]}, {"name": "hourly", "cron": "0 * * * *", "period": "hour"}]',
    )
    assert [x.name for x in s.report_schedules] == ["daily", "hourly"]
    assert s.report_schedules[0].recipients == ("oncall@example.com",)


def test_empty_setting_means_no_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_with(monkeypatch, "").report_schedules == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "not a JSON list"),
        ('[{"name": "d", "period": "day"}]', "exactly one of 'cron' or 'at'"),
        ('[{"name": "d", "at": "8:00", "cron": "0 8 * * *", "period": "day"}]', "exactly one"),
        ('[{"name": "d", "cron": "0 8 * *", "period": "day"}]', "not a 5-field cron"),
        ('[{"name": "d", "cron": "0 0 30 2 *", "period": "day"}]', "never fires"),
        ('[{"name": "d", "at": "25:00", "period": "day"}]', "not HH:MM"),
        ('[{"name": "d", "at": "08:00", "tz": "Mars/Base", "period": "day"}]', "unknown time zone"),
        ('[{"name": "d", "at": "08:00", "period": "month"}]', "period"),
        ('[{"name": "d", "at": "08:00", "period": "day", "recipients": ["nobody"]}]', "not an email"),
        ('[{"name": "a b", "at": "08:00", "period": "day"}]', "letters, digits"),
        (
            '[{"name": "d", "at": "08:00", "period": "day"}, {"name": "d", "at": "09:00", "period": "day"}]',
            "unique",
        ),
    ],
)
def test_invalid_schedules_fail_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        settings_with(monkeypatch, value)


def test_schedules_survive_the_round_trip_to_a_child_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = settings_with(monkeypatch, '[{"name": "daily", "at": "08:00", "tz": "UTC", "period": "day"}]')
    monkeypatch.setenv("FAILSTREAM_REPORT_SCHEDULES", s.as_env()["FAILSTREAM_REPORT_SCHEDULES"])
    assert Settings(_env_file=None).report_schedules == s.report_schedules  # type: ignore[call-arg]


def test_unknown_default_report_timezone_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILSTREAM_REPORT_TIMEZONE", "Mars/Base")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        Settings(_env_file=None)  # type: ignore[call-arg]
