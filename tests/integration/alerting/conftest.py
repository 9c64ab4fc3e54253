"""Settings and handles for the alerting integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from failstream.settings import Settings
from tests.integration.alerting.harness import Mongo
from tests.integration.services import SmtpSink


@pytest.fixture
def alerting_settings(settings: Settings, smtp_sink: SmtpSink) -> Settings:
    """Per-test topics and database, the test's SMTP server, no grouping, a short lease."""
    return settings.model_copy(
        update={
            "smtp_port": smtp_sink.port,
            "group_wait_s": 0.0,
            "fence_lease_s": 5.0,
            "smtp_timeout_s": 3.0,
            "smtp_retry_base_s": 0.5,
            "smtp_retry_max_s": 4.0,
            "dashboard_url": "http://127.0.0.1:8000/",
            "report_settle_s": 0.0,  # report tests read seeded figures: nothing is in flight
        }
    )


@pytest.fixture
def mongo(alerting_settings: Settings) -> Iterator[Mongo]:
    handle = Mongo(alerting_settings)
    yield handle
    handle.close()
