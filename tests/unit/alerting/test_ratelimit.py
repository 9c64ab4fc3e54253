from __future__ import annotations

from limits import parse

from failstream.alerting.ratelimit import AlertRateLimiter, async_storage_uri
from tests.unit.alerting.factories import alert


def test_storage_uris_are_turned_into_asyncio_backends() -> None:
    assert async_storage_uri("memory://") == "async+memory://"
    assert async_storage_uri("redis://h:6379") == "async+redis://h:6379"
    assert async_storage_uri("async+memory://") == "async+memory://"


async def test_one_alert_per_subject_per_window_then_held_back() -> None:
    limiter = AlertRateLimiter(parse("1/15minutes"), parse("30/hour"), "memory://")
    assert await limiter.admit_alert(alert("10.0.0.1"))
    assert not await limiter.admit_alert(alert("10.0.0.1", alert_key="second"))
    assert await limiter.admit_alert(alert("10.0.0.2"))


async def test_resolved_notice_does_not_spend_the_subject_budget() -> None:
    limiter = AlertRateLimiter(parse("1/15minutes"), parse("30/hour"), "memory://")
    assert await limiter.admit_alert(alert("10.0.0.1"))
    assert await limiter.admit_alert(alert("10.0.0.1", state="resolved"))


async def test_global_limit_counts_emails_not_alerts() -> None:
    limiter = AlertRateLimiter(parse("1/15minutes"), parse("2/hour"), "memory://")
    assert [await limiter.admit_email() for _ in range(3)] == [True, True, False]


def test_unusable_limit_settings_fail_at_start_with_the_variable_named() -> None:
    import pytest

    from failstream.alerting.exceptions import AlertingConfigError
    from failstream.settings import Settings

    with pytest.raises(AlertingConfigError, match="RATE_LIMIT_PER_SUBJECT"):
        AlertRateLimiter.from_settings(Settings(rate_limit_per_subject="banana"))
    with pytest.raises(AlertingConfigError, match="RATE_LIMIT_STORAGE_URI"):
        AlertRateLimiter.from_settings(Settings(rate_limit_storage_uri="bogus://x"))
